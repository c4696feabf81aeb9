// The MPI C API (Open MPI; Debian: libopenmpi-dev, pkg-config `ompi-c`). Its handles
// (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) and sentinels (MPI_IN_PLACE, MPI_STATUS_IGNORE) are
// macros over globals or casts that Swift cannot import, so they are re-exported as inline functions.
// Only the Swift `Cluster` module imports this.
#include <mpi.h>

static inline MPI_Comm pgm_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype pgm_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype pgm_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype pgm_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype pgm_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op pgm_mpi_sum(void) { return MPI_SUM; }
static inline void *pgm_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Status *pgm_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Request pgm_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline int pgm_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int pgm_mpi_success(void) { return MPI_SUCCESS; }
