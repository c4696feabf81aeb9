import Cluster
import Engine
import Formats
import Foundation
import MaskedDiffusion
import Networks
import Teacher

/// A round's target generation divided between the ranks of the job. The unit of work is the
/// writer's batch of `batchRows` rows: its randomness comes from its own stream (derived from the
/// seed and the batch index, as a single process has always drawn it — the times of a batch are
/// stratified over the batch, so a batch cannot be cut finer without changing its rows), so the
/// targets are the same bytes whatever the number of ranks. Each step of the loop hands batch
/// `b + r` to rank r; rank 0 gathers them and appends them to the one targets file in batch order
/// (one writer: HDF5 files are never written by two processes), then every rank moves on.
struct ShardedTargets {
  let world: Communicator
  let teacher: Denoiser
  let settings: TeacherSettings
  let header: TargetStore.Header
  /// The clean rows of generated rows (row → index into the training split).
  let cleanRow: (Int) -> Int
  /// Reads clean training rows as [n, L].
  let read: ([Int]) throws -> TokenTensor

  /// The batch that starts at generated row `row`.
  func batch(at row: Int) throws -> TargetBatch {
    let n = min(header.batchRows, header.rowsPlanned - row)
    let x0 = try read((row..<(row + n)).map(cleanRow))
    // Each batch's randomness depends only on its index: a resumed run regenerates identical rows.
    var rng = RandomStream(seed: header.seed).derive("batch-\(row / header.batchRows)")
    return TeacherTargets.generate(teacher: teacher, clean: x0, settings: settings, rng: &rng)
  }

  /// Generates rows `start ..< rowsPlanned`; `append` (rank 0 only) receives each batch in order.
  /// A stop request on any rank stops every rank after the batches of the same step are written.
  func run(from start: Int, append: (TargetBatch, _ final: Bool) throws -> Void, progress: (Int) -> Void) throws {
    precondition(start % header.batchRows == 0 || start >= header.rowsPlanned, "resuming inside a batch")
    var next = start
    while next < header.rowsPlanned {
      let mine = next + world.rank * header.batchRows
      let produced = mine < header.rowsPlanned ? try batch(at: mine) : nil
      let stop = Interruption.requested != nil
      let gathered = try gather(produced, stop: stop)
      if world.isRoot {
        for batch in gathered.batches {
          let n = batch.inputs.shape[0]
          try append(batch, next + n == header.rowsPlanned)
          next += n
          progress(next)
        }
      } else {
        next = min(header.rowsPlanned, next + world.size * header.batchRows)
      }
      if gathered.stop || (world.size == 1 && Interruption.requested != nil) {
        try Interruption.check()
        throw Interrupted(signal: SIGTERM)  // another rank's request
      }
    }
  }

  /// Every rank's batch (nil: none this step), in rank order, and whether any rank was asked to stop.
  /// One process: the batch itself.
  func gather(_ batch: TargetBatch?, stop: Bool) throws -> (batches: [TargetBatch], stop: Bool) {
    guard world.size > 1 else { return (batch.map { [$0] } ?? [], stop) }
    let ints = world.allgather(scalars: Self.integers(batch, stop: stop))
    let floats = world.allgather(scalars: (batch?.targets.logProbs ?? []) + (batch?.targets.tailLogMass ?? []))
    let doubles = world.allgather(scalars: batch?.times ?? [])
    var batches: [TargetBatch] = []
    var anyStop = false
    for r in 0..<world.size {
      let header = ints[r]
      guard header.count >= 5 else { throw ClusterError.malformed("target batch header of rank \(r)") }
      anyStop = anyStop || header[4] != 0
      let (n, l, m, k) = (Int(header[0]), Int(header[1]), Int(header[2]), Int(header[3]))
      guard n > 0 else { continue }
      guard header.count == 5 + n * l + m * k, floats[r].count == m * k + m, doubles[r].count == n else {
        throw ClusterError.malformed("target batch of rank \(r): sizes do not add up")
      }
      let inputs = header[5 ..< 5 + n * l].map { Int32(truncatingIfNeeded: $0) }
      let ids = header[(5 + n * l)...].map { Int32(truncatingIfNeeded: $0) }
      let targets = SparseDistributions(rows: m, k: k, ids: ids, logProbs: Array(floats[r][..<(m * k)]),
                                        tailLogMass: Array(floats[r][(m * k)...]))
      batches.append(TargetBatch(inputs: TokenTensor(shape: [n, l], values: inputs), times: doubles[r], targets: targets))
    }
    return (batches, anyStop)
  }

  /// [n, L, masked positions, K, stop] then the inputs and the target ids.
  static func integers(_ batch: TargetBatch?, stop: Bool) -> [Int64] {
    guard let b = batch else { return [0, 0, 0, 0, stop ? 1 : 0] }
    return [Int64(b.inputs.shape[0]), Int64(b.inputs.shape[1]), Int64(b.targets.rows), Int64(b.targets.k), stop ? 1 : 0]
      + b.inputs.values.map(Int64.init) + b.targets.ids.map(Int64.init)
  }
}
