import CMPI
import Foundation

/// The only code that calls MPI, and the only unsafe code of the module. Every function here is
/// reached only when the process was launched by `mpirun` with more than one rank (see
/// `Communicator.start`), from the thread that called `initialize` (MPI_THREAD_FUNNELED).
///
/// Counts above `Int32.max` (MPI's `int` counts) are split into several calls. MPI_COMM_WORLD keeps
/// its default error handler, MPI_ERRORS_ARE_FATAL: a failed call ends the whole job with MPI's
/// message, so return codes are checked only as a backstop.
enum Transport {
  /// Elements per MPI call: below `Int32.max`, and a multiple of 8 so chunks stay aligned.
  static let chunk = 1 << 30

  enum Kind {
    case float32, float64, int64, byte

    init(_ scalar: ScalarKind) {
      switch scalar {
      case .float32: self = .float32
      case .float64: self = .float64
      case .int64: self = .int64
      }
    }
  }

  private static func datatype(_ kind: Kind) -> MPI_Datatype {
    switch kind {
    case .float32: pgm_mpi_float()
    case .float64: pgm_mpi_double()
    case .int64: pgm_mpi_int64()
    case .byte: pgm_mpi_byte()
    }
  }

  private static func check(_ code: Int32, _ what: String) {
    if code != pgm_mpi_success() {
      FileHandle.standardError.write("MPI: \(what) failed with code \(code)\n".data(using: .utf8)!)
      MPI_Abort(pgm_mpi_comm_world(), 1)
    }
  }

  /// MPI_Init_thread (funneled: only this thread calls MPI) and the process's place in the job.
  static func initialize() -> (rank: Int, size: Int) {
    // A rank waiting in a collective yields its core instead of spinning on it: ranks share cores
    // with each other (--oversubscribe) or with other jobs, and a spinning rank steals the time of
    // the one being waited for (measured: student training 2.2× faster on two shared cores). Set
    // OMPI_MCA_mpi_yield_when_idle=0 to spin on dedicated cores.
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0)
    var provided: Int32 = 0
    check(MPI_Init_thread(nil, nil, pgm_mpi_thread_funneled(), &provided), "MPI_Init_thread")
    if provided < pgm_mpi_thread_funneled() {
      FileHandle.standardError.write("MPI: this library provides thread level \(provided); funneled is needed\n".data(using: .utf8)!)
      MPI_Abort(pgm_mpi_comm_world(), 1)
    }
    var rank: Int32 = 0, size: Int32 = 0
    check(MPI_Comm_rank(pgm_mpi_comm_world(), &rank), "MPI_Comm_rank")
    check(MPI_Comm_size(pgm_mpi_comm_world(), &size), "MPI_Comm_size")
    return (Int(rank), Int(size))
  }

  static func finalize() { check(MPI_Finalize(), "MPI_Finalize") }

  static func abort(code: Int32) -> Never {
    MPI_Abort(pgm_mpi_comm_world(), code)
    exit(code)  // MPI_Abort does not return; this satisfies the type checker.
  }

  static func barrier() { check(MPI_Barrier(pgm_mpi_comm_world()), "MPI_Barrier") }

  /// Starts a barrier and returns at once (MPI_Ibarrier); `test` tells when every rank entered it.
  static func startBarrier() -> [MPI_Request?] {
    var request: MPI_Request? = pgm_mpi_request_null()
    check(MPI_Ibarrier(pgm_mpi_comm_world(), &request), "MPI_Ibarrier")
    return [request]
  }

  /// In-place sum over every rank of `count` elements at `base`.
  static func allreduceSum(_ base: UnsafeMutableRawPointer, count: Int, _ kind: Kind, stride: Int) {
    forEachChunk(count) { offset, n in
      check(MPI_Allreduce(pgm_mpi_in_place(), base + offset * stride, n, datatype(kind), pgm_mpi_sum(),
                          pgm_mpi_comm_world()), "MPI_Allreduce")
    }
  }

  /// Starts the in-place sum; one request per chunk.
  static func startAllreduceSum(_ base: UnsafeMutableRawPointer, count: Int, _ kind: Kind, stride: Int) -> [MPI_Request?] {
    var requests: [MPI_Request?] = []
    forEachChunk(count) { offset, n in
      var request: MPI_Request? = pgm_mpi_request_null()
      check(MPI_Iallreduce(pgm_mpi_in_place(), base + offset * stride, n, datatype(kind), pgm_mpi_sum(),
                           pgm_mpi_comm_world(), &request), "MPI_Iallreduce")
      requests.append(request)
    }
    return requests
  }

  /// Waits for every request (they become MPI_REQUEST_NULL).
  static func wait(_ requests: inout [MPI_Request?]) {
    for i in requests.indices { check(MPI_Wait(&requests[i], pgm_mpi_status_ignore()), "MPI_Wait") }
  }

  /// Whether every request has completed; also drives MPI's progress engine.
  static func test(_ requests: inout [MPI_Request?]) -> Bool {
    var all = true
    for i in requests.indices {
      var done: Int32 = 0
      check(MPI_Test(&requests[i], &done, pgm_mpi_status_ignore()), "MPI_Test")
      all = all && done != 0
    }
    return all
  }

  /// Root 0's `count` elements at `base` to every rank.
  static func broadcast(_ base: UnsafeMutableRawPointer, count: Int, _ kind: Kind, stride: Int) {
    forEachChunk(count) { offset, n in
      check(MPI_Bcast(base + offset * stride, n, datatype(kind), 0, pgm_mpi_comm_world()), "MPI_Bcast")
    }
  }

  static func broadcast(_ values: inout [Int64]) {
    let count = values.count
    values.withUnsafeMutableBytes { broadcast($0.baseAddress!, count: count, .int64, stride: 8) }
  }

  static func broadcast(_ bytes: inout [UInt8]) {
    guard !bytes.isEmpty else { return }
    let count = bytes.count
    bytes.withUnsafeMutableBytes { broadcast($0.baseAddress!, count: count, .byte, stride: 1) }
  }

  /// One 8-byte value per rank, in rank order.
  static func allgather(_ value: UInt64, size: Int) -> [UInt64] {
    var send = value
    var all = [UInt64](repeating: 0, count: size)
    all.withUnsafeMutableBytes { out in
      check(MPI_Allgather(&send, 1, pgm_mpi_int64(), out.baseAddress, 1, pgm_mpi_int64(), pgm_mpi_comm_world()),
            "MPI_Allgather")
    }
    return all
  }

  /// Every rank's bytes (of lengths `counts`, already known everywhere), concatenated in rank order.
  static func allgather(_ bytes: [UInt8], counts: [Int]) -> [UInt8] {
    let total = counts.reduce(0, +)
    precondition(total <= Int(Int32.max), "allgather of more than 2 GiB")
    var counts32 = counts.map { Int32($0) }
    var displacements = [Int32](repeating: 0, count: counts.count)
    for i in counts.indices.dropFirst() { displacements[i] = displacements[i - 1] + counts32[i - 1] }
    var out = [UInt8](repeating: 0, count: max(total, 1))
    bytes.withUnsafeBytes { send in
      out.withUnsafeMutableBytes { receive in
        check(MPI_Allgatherv(send.baseAddress, Int32(bytes.count), pgm_mpi_byte(),
                             receive.baseAddress, &counts32, &displacements, pgm_mpi_byte(), pgm_mpi_comm_world()),
              "MPI_Allgatherv")
      }
    }
    return Array(out.prefix(total))
  }

  private static func forEachChunk(_ count: Int, _ body: (Int, Int32) -> Void) {
    var offset = 0
    while offset < count {
      let n = min(chunk, count - offset)
      body(offset, Int32(n))
      offset += n
    }
  }
}
