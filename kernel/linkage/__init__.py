"""上下联动: problems carried between a lower level's ledger and its upper level's."""
