// Teacher module.
