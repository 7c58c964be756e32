"""``huhang lint``: find what is wrong with a rule set that ``huhang validate`` accepts."""
