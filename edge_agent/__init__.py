"""edge-agent: CSV files from folders and SMB shares to AWS IoT Core."""

__version__ = "0.1.0"
