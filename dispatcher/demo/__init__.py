"""``dispatcher demo``: the Boston 311 replay through a built-in ticket platform."""
