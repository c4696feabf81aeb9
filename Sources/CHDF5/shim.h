// The HDF5 C API. Its type and property-list identifiers (H5T_NATIVE_FLOAT, H5P_DEFAULT, ...) are
// macros over globals that Swift cannot import, so they are re-exported as inline functions.
#include <hdf5.h>

static inline hid_t pgm_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t pgm_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t pgm_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t pgm_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t pgm_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t pgm_h5t_native_uint16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t pgm_h5t_c_s1(void) { return H5T_C_S1; }
static inline hid_t pgm_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t pgm_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t pgm_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t pgm_h5s_all(void) { return H5S_ALL; }
static inline hsize_t pgm_h5s_unlimited(void) { return H5S_UNLIMITED; }

// Used by the Swift `HDF5` module (file access flags, more property-list classes, H5T_VARIABLE).
static inline hid_t pgm_h5p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t pgm_h5p_dataset_access(void) { return H5P_DATASET_ACCESS; }
static inline hid_t pgm_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t pgm_h5p_group_create(void) { return H5P_GROUP_CREATE; }
static inline unsigned pgm_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned pgm_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned pgm_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned pgm_h5f_acc_excl(void) { return H5F_ACC_EXCL; }
static inline unsigned pgm_h5f_acc_swmr_write(void) { return H5F_ACC_SWMR_WRITE; }
static inline size_t pgm_h5t_variable(void) { return H5T_VARIABLE; }

// An anonymous in-memory file (Linux memfd_create), or -1 where there is none. The HDF5 module
// points a file's descriptor at it after a failed write so that nothing more reaches the disk
// (see H5WriteFailure.swift). glibc declares memfd_create only under _GNU_SOURCE, which
// Swift's Glibc module does not set, hence the raw system call.
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
static inline int pgm_memfd(void) { return (int)syscall(SYS_memfd_create, "pgm-hdf5-severed", 1u /* MFD_CLOEXEC */); }
#else
static inline int pgm_memfd(void) { return -1; }
#endif
