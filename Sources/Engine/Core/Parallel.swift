import CBLAS
import Dispatch

/// Work splitting over the machine's cores, and the one switch between "OpenBLAS threads the
/// product" and "we thread many small products ourselves".
public enum Parallel {
  /// Worker count for engine kernels: the cores this process may use, or `PGM_THREADS`, or what
  /// `setWorkers` chose (e.g. one per rank when several processes share a machine).
  public private(set) nonisolated(unsafe) static var workers: Int = {
    if let text = ProcessInfo.processInfo.environment["PGM_THREADS"], let n = Int(text), n >= 1 { return min(n, 64) }
    return max(1, min(ProcessInfo.processInfo.activeProcessorCount, 64))
  }()

  /// Sets the worker count. Call it before any engine work (kernels size per-worker scratch by it
  /// when they start).
  public static func setWorkers(_ n: Int) { workers = max(1, min(n, 64)) }

  /// Calls `body` on disjoint chunks covering 0..<count, on up to `workers` threads. Work below
  /// `grain` items runs inline: a thread hop costs more than a few thousand flops.
  @inline(__always)
  public static func forRange(_ count: Int, grain: Int = 4096, _ body: (Range<Int>) -> Void) {
    if count <= 0 { return }
    let chunks = min(workers, max(1, count / max(grain, 1)))
    if chunks <= 1 { body(0..<count); return }
    perform(iterations: chunks) { c in
      let lo = count * c / chunks, hi = count * (c + 1) / chunks
      if lo < hi { body(lo..<hi) }
    }
  }

  /// Like `forRange`, also passing the chunk's index (0..<chunks) so callers can keep per-chunk
  /// partial sums. Returns the number of chunks used.
  @discardableResult
  public static func forChunks(_ count: Int, grain: Int = 4096, _ body: (Int, Range<Int>) -> Void) -> Int {
    if count <= 0 { return 0 }
    let chunks = min(workers, max(1, count / max(grain, 1)))
    if chunks <= 1 { body(0, 0..<count); return 1 }
    perform(iterations: chunks) { c in
      let lo = count * c / chunks, hi = count * (c + 1) / chunks
      if lo < hi { body(c, lo..<hi) }
    }
    return chunks
  }

  /// Runs `body(i)` for every item, items spread over the workers; item i runs on worker
  /// i % workers (callers index per-worker scratch with it). Small products inside run on their
  /// worker's thread (OpenBLAS is single-threaded; see `BLASThreads`).
  static func forEachItem(_ count: Int, _ body: (Int) -> Void) {
    if count <= 0 { return }
    if workers == 1 || count == 1 { for i in 0..<count { body(i) }; return }
    let workers = self.workers
    perform(iterations: workers) { w in
      var i = w
      while i < count { body(i); i += workers }
    }
  }

  /// body(0..<iterations) on as many threads, returning when all are done: on the engine's
  /// `WorkerPool` (spinning workers, microseconds per hand-off), or on libdispatch's threads when
  /// the pool is busy (a nested region, or another thread's) or smaller than asked.
  public static func perform(iterations n: Int, _ body: (Int) -> Void) {
    if n <= 1 { if n == 1 { body(0) }; return }
    if let pool = poolFor(n), pool.perform(iterations: n, body) { return }
    withoutActuallyEscaping(body) { body in DispatchQueue.concurrentPerform(iterations: n, execute: body) }
  }

  /// The pool, started on first use with `workers` threads (none for one worker). A later
  /// `setWorkers` above that size makes regions fall back to libdispatch.
  private static func poolFor(_ n: Int) -> WorkerPool? {
    poolLock.lock()
    defer { poolLock.unlock() }
    if pool == nil && workers >= 2 { pool = WorkerPool(capacity: workers) }
    return pool.flatMap { n <= $0.capacity ? $0 : nil }
  }
  private nonisolated(unsafe) static var pool: WorkerPool?
  private static let poolLock = NSLock()
}

/// OpenBLAS threading. The engine keeps OpenBLAS single-threaded and splits large products over
/// its own workers instead (`sgemm`): with two thread pools on two cores, OpenBLAS's idle threads
/// spin and yield against the element-wise kernels' threads (~10% of a training step went to
/// `sched_yield`), and its threaded kernels give slightly different results when entered from two
/// threads at once. Measured here, two single-threaded halves multiply as fast as OpenBLAS's own
/// two threads (e.g. 2048×768×256: 244 vs 242 GFLOP/s).
public enum BLASThreads {
  /// OpenBLAS's thread count as the environment configures it (what raw benchmarks use).
  public static let configured: Int32 = {
    let n = openblas_get_num_threads()
    openblas_set_num_threads(1)
    return n
  }()

  /// Makes sure OpenBLAS has been switched to one thread (first use of the engine).
  @inline(__always) static func ensureEngineMode() { _ = configured }

  /// Runs `body` with OpenBLAS's configured threads (raw-speed baselines only; nothing else may
  /// run engine work meanwhile).
  public static func withConfiguredThreads<R>(_ body: () throws -> R) rethrows -> R {
    ensureEngineMode()
    openblas_set_num_threads(configured)
    defer { openblas_set_num_threads(1) }
    return try body()
  }
}

import Foundation
