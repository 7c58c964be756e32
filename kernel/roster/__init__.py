"""The roster of assisted enterprises (《包抓企业基本情况表》) and its import."""
