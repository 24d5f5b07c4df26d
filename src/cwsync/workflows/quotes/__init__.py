"""Quote → ConnectWise opportunity (SB-5, SB-6).

The quote document and its pure plan (`document`), the journaled workflow (`workflow`).
"""
