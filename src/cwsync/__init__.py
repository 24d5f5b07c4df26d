"""cwsync: a self-hosted sync engine between ConnectWise Manage and the tools an MSP runs on."""

__version__ = "0.1.0"
