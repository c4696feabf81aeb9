import Foundation

// Run-time dependency, decided: `pgm` is linked against Open MPI's libmpi (pkg-config `ompi-c`), so
// the shared library must be present to start `pgm` at all (Debian: `libopenmpi3`, pulled in by
// `libopenmpi-dev`/`openmpi-bin`). Loading it lazily (dlopen + dlsym of every function and of the
// MPI_COMM_WORLD/MPI_FLOAT/... globals) would spare plain runs that library but put a second,
// hand-written copy of the ABI in unsafe code; linking keeps the binding type-checked by the C header.
// What a plain run is spared is every MPI *call*: without an `mpirun` launch nothing here touches MPI
// (not even MPI_Init), and every collective is the identity of the N = 1 case.

/// The processes of this job and the collectives between them. A process not launched by `mpirun`
/// is the one-rank case of the same API: rank 0 of 1, every collective returns its input, no MPI call.
///
/// Usage: `Communicator.start()` once, on the main thread, before any other thread could use it
/// (`pgm`'s main.swift does it); `Communicator.world` afterwards; `Communicator.finish()` after a
/// successful run; `abort(message:)` on any failure once more than one rank runs.
///
/// Every collective must be called by every rank, in the same order, with the same element counts
/// (broadcast and allreduce buffers); only the thread that called `start()` may call them
/// (MPI_THREAD_FUNNELED). A mismatch is a programming error that MPI may detect (and end the job)
/// or not (a hang); `pgm cluster-check` runs each collective with known values.
public struct Communicator: Sendable {
  /// This process's index, 0 ..< size.
  public let rank: Int
  /// The number of processes in the job.
  public let size: Int
  /// Whether MPI was initialised in this process (launched by `mpirun`, even with one rank).
  public let usesMPI: Bool

  /// Rank 0: the one that reads shared inputs, prints reports and writes shared files.
  public var isRoot: Bool { rank == 0 }

  /// Collectives go through MPI only with more than one rank; `mpirun -np 1` also skips them.
  var distributed: Bool { usesMPI && size > 1 }

  /// The single-process case.
  public static let single = Communicator(rank: 0, size: 1, usesMPI: false)

  /// Whether the environment says this process was started by a process manager: Open MPI's
  /// `mpirun` sets OMPI_COMM_WORLD_SIZE, PMIx launchers (Open MPI ≥ 4, `srun --mpi=pmix`) PMIX_RANK.
  public static func launchedByMPIRun(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
    environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
  }

  /// The ranks of this job on this machine (Open MPI's OMPI_COMM_WORLD_LOCAL_SIZE; 1 otherwise).
  public static func ranksOnThisMachine(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
    max(1, Int(environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1)
  }

  /// Initialises MPI when launched by `mpirun` (MPI_Init_thread, funneled), otherwise nothing.
  /// Idempotent; call it first on the main thread.
  @discardableResult
  public static func start() -> Communicator { State.world }

  /// This process's communicator (starts it if needed).
  public static var world: Communicator { State.world }

  /// MPI_Finalize after a successful run (nothing in a plain process). Never call it on a failure
  /// path: Open MPI's finalize waits for the other ranks, which may be waiting for this one; `abort`
  /// instead. A rank that exits without either is noticed by `mpirun`, which ends the job.
  public static func finish() {
    State.lock.lock()
    defer { State.lock.unlock() }
    guard State.world.usesMPI, !State.finalized else { return }
    State.finalized = true
    Transport.finalize()
  }

  /// Prints `message` (when not empty) to standard error, from this rank only, and ends the whole
  /// job with `code`: MPI_Abort under `mpirun` (the other ranks are killed wherever they are
  /// waiting), `exit` in a plain process. Standard output is flushed first.
  public func abort(message: String, code: Int32 = 1) -> Never {
    fflush(stdout)
    if !message.isEmpty {
      FileHandle.standardError.write((message.hasSuffix("\n") ? message : message + "\n").data(using: .utf8)!)
    }
    if usesMPI && !State.finalized { Transport.abort(code: code) }
    exit(code)
  }

  /// A rank prefix for messages ("rank 1 of 4: "), empty with one rank.
  public var label: String { size > 1 ? "rank \(rank) of \(size): " : "" }

  // MARK: Barrier

  /// Returns once every rank has called it.
  public func barrier() {
    if distributed { Transport.barrier() }
  }

  /// A barrier that sleeps while it waits (`poll` seconds between checks) instead of spinning like
  /// MPI's blocking calls: for ranks that wait while rank 0 works alone (data preparation,
  /// evaluation, the report), so that they leave it the cores.
  public func waitForAll(poll: Double = 0.002) {
    guard distributed else { return }
    var requests = Transport.startBarrier()
    while !Transport.test(&requests) { usleep(useconds_t(poll * 1e6)) }
  }

  // MARK: Sum-allreduce

  /// Every element replaced by its sum over the ranks (same count on every rank).
  public func allreduceSum<T: ClusterScalar>(_ buffer: inout [T]) {
    guard distributed else { return }
    buffer.withUnsafeMutableBufferPointer { allreduceSum($0) }
  }

  /// The same, in place in memory the caller owns (a gradient bucket), without copies.
  public func allreduceSum<T: ClusterScalar>(_ buffer: UnsafeMutableBufferPointer<T>) {
    guard distributed, let base = buffer.baseAddress else { return }
    Transport.allreduceSum(UnsafeMutableRawPointer(base), count: buffer.count, .init(T.scalarKind), stride: MemoryLayout<T>.stride)
  }

  /// The sum of one value over the ranks.
  public func allreduceSum<T: ClusterScalar>(_ value: T) -> T {
    var buffer = [value]
    allreduceSum(&buffer)
    return buffer[0]
  }

  /// Starts the in-place sum and returns at once (MPI_Iallreduce), so that the backward pass can go
  /// on while a finished bucket travels. The memory must stay allocated and untouched until the
  /// handle's `wait()` returns. Open MPI progresses the transfer only inside MPI calls: calling
  /// `test()` on pending handles between pieces of work moves it along.
  public func startAllreduceSum<T: ClusterScalar>(_ buffer: UnsafeMutableBufferPointer<T>) -> PendingAllreduce {
    guard distributed, let base = buffer.baseAddress else { return PendingAllreduce(requests: []) }
    return PendingAllreduce(requests: Transport.startAllreduceSum(UnsafeMutableRawPointer(base), count: buffer.count,
                                                                  .init(T.scalarKind), stride: MemoryLayout<T>.stride))
  }

  // MARK: Broadcast from rank 0

  /// Rank 0's elements copied into every rank's buffer (same count on every rank).
  public func broadcast<T: ClusterScalar>(_ buffer: inout [T]) {
    guard distributed else { return }
    buffer.withUnsafeMutableBufferPointer { p in
      guard let base = p.baseAddress else { return }
      Transport.broadcast(UnsafeMutableRawPointer(base), count: p.count, .init(T.scalarKind), stride: MemoryLayout<T>.stride)
    }
  }

  /// Rank 0 runs `make`; every rank returns its bytes. Only rank 0 runs `make`. If it throws, rank 0
  /// rethrows its error and every other rank throws `ClusterError.rootFailed` with its description,
  /// so that no rank is left waiting.
  public func broadcast(bytes make: () throws -> [UInt8]) throws -> [UInt8] {
    guard distributed else { return try make() }
    var payload: [UInt8] = []
    var header: [Int64] = [0, 0]  // [ok 1 | failed 0, byte count]
    var failure: Error?
    if isRoot {
      do {
        payload = try make()
        header = [1, Int64(payload.count)]
      } catch {
        failure = error
        payload = Array(String(describing: error).utf8)
        header = [0, Int64(payload.count)]
      }
    }
    Transport.broadcast(&header)
    if !isRoot { payload = [UInt8](repeating: 0, count: Int(header[1])) }
    Transport.broadcast(&payload)
    if let failure { throw failure }
    guard header[0] == 1 else { throw ClusterError.rootFailed(String(decoding: payload, as: UTF8.self)) }
    return payload
  }

  /// Rank 0 runs `make`; every rank returns its value (sent as JSON). Failures as `broadcast(bytes:)`.
  public func broadcast<T: Codable>(_ make: () throws -> T) throws -> T {
    guard distributed else { return try make() }
    let bytes = try broadcast(bytes: { Array(try Self.encoder.encode(Box(value: try make()))) })
    return try decode(T.self, bytes, what: "broadcast")
  }

  // MARK: Allgather of small per-rank values

  /// Every rank's value, in rank order.
  public func allgather(_ value: Int) -> [Int] {
    guard distributed else { return [value] }
    return Transport.allgather(UInt64(bitPattern: Int64(value)), size: size).map { Int(Int64(bitPattern: $0)) }
  }

  /// Every rank's value, in rank order (bit-exact).
  public func allgather(_ value: Double) -> [Double] {
    guard distributed else { return [value] }
    return Transport.allgather(value.bitPattern, size: size).map(Double.init(bitPattern:))
  }

  /// Every rank's bytes, in rank order (lengths may differ; up to 2 GiB in all).
  public func allgather(bytes: [UInt8]) -> [[UInt8]] {
    guard distributed else { return [bytes] }
    let counts = allgather(bytes.count)
    let joined = Transport.allgather(bytes, counts: counts)
    var parts: [[UInt8]] = []
    var start = 0
    for n in counts {
      parts.append(Array(joined[start ..< start + n]))
      start += n
    }
    return parts
  }

  /// Every rank's array of scalars (lengths may differ), in rank order, bit-exact.
  public func allgather<T: ClusterScalar>(scalars values: [T]) -> [[T]] {
    guard distributed else { return [values] }
    let bytes = values.withUnsafeBytes { Array($0) }
    return allgather(bytes: bytes).map { part in
      [T](unsafeUninitializedCapacity: part.count / MemoryLayout<T>.stride) { buffer, count in
        part.withUnsafeBytes { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: $0) }
        count = part.count / MemoryLayout<T>.stride
      }
    }
  }

  /// Every rank's value (sent as JSON), in rank order.
  public func allgather<T: Codable>(_ value: T) throws -> [T] {
    guard distributed else { return [value] }
    let parts = allgather(bytes: Array(try Self.encoder.encode(Box(value: value))))
    return try parts.enumerated().map { try decode(T.self, $1, what: "allgather from rank \($0)") }
  }

  // MARK: Coding

  /// A wrapper so that top-level scalars and strings encode as JSON too.
  private struct Box<T: Codable>: Codable { let value: T }

  private static var encoder: JSONEncoder {
    let e = JSONEncoder()
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return e
  }

  private func decode<T: Codable>(_ type: T.Type, _ bytes: [UInt8], what: String) throws -> T {
    let d = JSONDecoder()
    d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    do { return try d.decode(Box<T>.self, from: Data(bytes)).value } catch {
      throw ClusterError.malformed("\(what): \(error)")
    }
  }
}

/// The element types the reductions and broadcasts carry.
public protocol ClusterScalar { static var scalarKind: ScalarKind { get } }
public enum ScalarKind: Sendable { case float32, float64, int64 }
extension Float: ClusterScalar { public static var scalarKind: ScalarKind { .float32 } }
extension Double: ClusterScalar { public static var scalarKind: ScalarKind { .float64 } }
extension Int64: ClusterScalar { public static var scalarKind: ScalarKind { .int64 } }

/// A sum-allreduce in flight (`Communicator.startAllreduceSum`). `wait()` before reading or freeing
/// the buffer; a handle dropped while pending waits in its deinit.
public final class PendingAllreduce {
  private var requests: [OpaquePointer?]

  init(requests: [OpaquePointer?]) { self.requests = requests }

  /// Returns once the sums are in the buffer. Idempotent.
  public func wait() {
    guard !requests.isEmpty else { return }
    Transport.wait(&requests)
    requests = []
  }

  /// Whether the sums are in the buffer, without blocking; also lets MPI progress the transfer.
  public func test() -> Bool {
    guard !requests.isEmpty else { return true }
    if Transport.test(&requests) { requests = []; return true }
    return false
  }

  deinit { wait() }
}

/// Failures that every rank sees alike.
public enum ClusterError: Error, CustomStringConvertible {
  /// Rank 0 failed while producing a broadcast value; its message.
  case rootFailed(String)
  /// A value that did not decode (ranks running different builds).
  case malformed(String)

  public var description: String {
    switch self {
    case .rootFailed(let message): "rank 0 failed: \(message)"
    case .malformed(let message): "malformed cluster message (are all ranks the same build?): \(message)"
    }
  }
}

/// The process-wide communicator, created on first use.
enum State {
  static let lock = NSLock()
  nonisolated(unsafe) static var finalized = false

  static let world: Communicator = {
    guard Communicator.launchedByMPIRun() else { return .single }
    let (rank, size) = Transport.initialize()
    return Communicator(rank: rank, size: size, usesMPI: true)
  }()
}
