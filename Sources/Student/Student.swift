// Student module.
