import CBLAS
import Dispatch

/// Work splitting over the machine's cores, and the one switch between "OpenBLAS threads the
/// product" and "we thread many small products ourselves".
public enum Parallel {
  /// Worker count for engine kernels (the cores this process may use).
  public static let workers: Int = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 64))

  /// Calls `body` on disjoint chunks covering 0..<count, on up to `workers` threads. Work below
  /// `grain` items runs inline: a thread hop costs more than a few thousand flops.
  @inline(__always)
  public static func forRange(_ count: Int, grain: Int = 4096, _ body: (Range<Int>) -> Void) {
    if count <= 0 { return }
    let chunks = min(workers, max(1, count / max(grain, 1)))
    if chunks <= 1 { body(0..<count); return }
    withoutActuallyEscaping(body) { body in
      DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let lo = count * c / chunks, hi = count * (c + 1) / chunks
        if lo < hi { body(lo..<hi) }
      }
    }
  }

  /// Like `forRange`, also passing the chunk's index (0..<chunks) so callers can keep per-chunk
  /// partial sums. Returns the number of chunks used.
  @discardableResult
  public static func forChunks(_ count: Int, grain: Int = 4096, _ body: (Int, Range<Int>) -> Void) -> Int {
    if count <= 0 { return 0 }
    let chunks = min(workers, max(1, count / max(grain, 1)))
    if chunks <= 1 { body(0, 0..<count); return 1 }
    withoutActuallyEscaping(body) { body in
      DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let lo = count * c / chunks, hi = count * (c + 1) / chunks
        if lo < hi { body(c, lo..<hi) }
      }
    }
    return chunks
  }

  /// Runs `body(i)` for every item, items spread over the workers, with OpenBLAS held to one
  /// thread inside so that each worker's small products do not fight over the BLAS thread pool.
  /// Item i runs on worker i % workers (callers index per-worker scratch with it). Products inside
  /// pass `insideItemRegion: true`: the region holds the BLAS lock for them.
  static func forEachItem(_ count: Int, _ body: (Int) -> Void) {
    if count <= 0 { return }
    BLASThreads.lock.lock()
    defer { BLASThreads.lock.unlock() }
    if workers == 1 || count == 1 { BLASThreads.single { for i in 0..<count { body(i) } }; return }
    BLASThreads.single {
      withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: workers) { w in
          var i = w
          while i < count { body(i); i += workers }
        }
      }
    }
  }
}

/// OpenBLAS thread control. Large products use OpenBLAS's own threads (as the machine configures
/// them); regions that parallelise over many small products switch it to one thread.
public enum BLASThreads {
  public static let configured: Int32 = openblas_get_num_threads()
  /// Serialises entry into OpenBLAS (see `sgemm`).
  static let lock = NSLock()

  public static func single<R>(_ body: () throws -> R) rethrows -> R {
    if configured <= 1 { return try body() }
    openblas_set_num_threads(1)
    defer { openblas_set_num_threads(configured) }
    return try body()
  }
}

import Foundation
