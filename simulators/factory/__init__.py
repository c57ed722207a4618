"""Legacy factory equipment writing CSV in the dialects of notes/csv-dialects.md."""
