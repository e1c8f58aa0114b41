"""Hand models (MANO layout), joint orders and conventions."""
