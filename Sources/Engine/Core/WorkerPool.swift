import Foundation
import Synchronization

/// The engine's own worker threads, which wait for work by spinning briefly before they sleep.
///
/// Every kernel splits its work with `Parallel`, many times per network pass (about 150 regions per
/// sampler pass, each 10 µs to a few ms of work). `DispatchQueue.concurrentPerform` wakes a sleeping
/// pool thread for each region; on this 2-core VM that hand-off cost 35–60 µs per region (measured:
/// two halves of 17 µs each took 53 µs in parallel, more than running them one after the other),
/// i.e. about a tenth of a sampler run. Here a region is published by bumping an atomic word the
/// workers watch: a worker that finished the previous region less than `spinNanoseconds` ago sees it
/// within nanoseconds, one that has been idle longer sleeps on a condition variable and is woken.
///
/// One caller at a time: a call made while the pool is busy (from a worker, i.e. nested, or from
/// another thread, e.g. tests running in parallel) returns false and the caller falls back to
/// `concurrentPerform`.
final class WorkerPool: @unchecked Sendable {
  /// Threads a region may use, the caller included.
  let capacity: Int
  /// How long a worker keeps watching for the next region before it sleeps.
  static let spinNanoseconds: UInt64 = 200_000

  /// generation << 8 | iterations of the region published last. One word, so a worker reads the
  /// region and its size together.
  private let state = Atomic<Int>(0)
  /// Workers of the current region that have not finished their iteration.
  private let remaining = Atomic<Int>(0)
  private let busy = Atomic<Bool>(false)
  /// Workers asleep (or about to sleep) on `wake`.
  private let sleepers = Atomic<Int>(0)
  /// The current region's body: written before `state` is published, read by workers after they
  /// see it, cleared before `perform` returns.
  private var job: ((Int) -> Void)?
  private let lock: UnsafeMutablePointer<pthread_mutex_t>
  private let wake: UnsafeMutablePointer<pthread_cond_t>

  init(capacity: Int) {
    precondition(capacity >= 2 && capacity <= 64, "WorkerPool: capacity \(capacity)")
    self.capacity = capacity
    lock = .allocate(capacity: 1)
    wake = .allocate(capacity: 1)
    pthread_mutex_init(lock, nil)
    pthread_cond_init(wake, nil)
    for index in 1..<capacity {
      let thread = Thread { [unowned self] in self.workerLoop(index) }
      thread.name = "pgm worker \(index)"
      thread.start()
    }
  }

  /// Runs body(0..<iterations), iteration 0 on the calling thread and iteration i on worker i, and
  /// returns when all are done; false (nothing run) when the pool is busy or too small.
  func perform(iterations n: Int, _ body: (Int) -> Void) -> Bool {
    guard n >= 1 && n <= capacity,
          busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
    defer { busy.store(false, ordering: .releasing) }
    withoutActuallyEscaping(body) { body in
      job = body
      remaining.store(n - 1, ordering: .relaxed)
      let generation = (state.load(ordering: .relaxed) >> 8) + 1
      state.store(generation << 8 | n, ordering: .sequentiallyConsistent)
      if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
        pthread_mutex_lock(lock)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(lock)
      }
      body(0)
      var spins = 0
      while remaining.load(ordering: .acquiring) > 0 {
        spins += 1
        if spins & 0xFFF == 0 { sched_yield() }  // a worker descheduled by the host: let it run
      }
      job = nil
    }
    return true
  }

  private func workerLoop(_ index: Int) {
    var seen = 0
    while true {
      let current = nextRegion(after: seen)
      seen = current >> 8
      if index < current & 0xFF {
        runJob(index)
        remaining.subtract(1, ordering: .releasing)
      }
    }
  }

  /// Calls the published body; a function of its own so that its reference to the closure ends
  /// before `remaining` says the iteration is done.
  @inline(never)
  private func runJob(_ index: Int) {
    job.unsafelyUnwrapped(index)
  }

  /// Waits for a region newer than generation `seen`: watches `state` for `spinNanoseconds`, then
  /// sleeps. A worker counts itself in `sleepers` before its last look, and `perform` reads
  /// `sleepers` after publishing, both sequentially consistent: one of the two sees the other, and
  /// the broadcast holds the lock, so no wake-up is lost.
  private func nextRegion(after seen: Int) -> Int {
    let start = DispatchTime.now().uptimeNanoseconds
    var spins = 0
    while true {
      let current = state.load(ordering: .acquiring)
      if current >> 8 != seen { return current }
      spins += 1
      if spins & 0xFF == 0 && DispatchTime.now().uptimeNanoseconds - start > Self.spinNanoseconds { break }
    }
    pthread_mutex_lock(lock)
    sleepers.add(1, ordering: .sequentiallyConsistent)
    var current = state.load(ordering: .sequentiallyConsistent)
    while current >> 8 == seen {
      pthread_cond_wait(wake, lock)
      current = state.load(ordering: .sequentiallyConsistent)
    }
    sleepers.subtract(1, ordering: .sequentiallyConsistent)
    pthread_mutex_unlock(lock)
    return current
  }
}
