"""ConnectWise configurations → the device table (CB-7).

The pair (`sync`), the table that holds its links (`table`), its values (`models`).
"""
