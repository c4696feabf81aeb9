// HDF5 module.
