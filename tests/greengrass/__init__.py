"""Tests of running as a Greengrass component: IPC, publisher, recipe."""
