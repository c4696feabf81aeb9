import Cluster
import Engine
import Student

/// The gradient reducer of a data-parallel run over MPI ranks: every gradient summed over the ranks
/// with sum-allreduces of fixed-size buckets, each carrying several parameter tensors (a tensor
/// larger than a bucket is cut across buckets). A missing gradient travels as zeros; a count of the
/// ranks that had it rides in the last bucket, so that a gradient stays nil only where every rank
/// had none (as `LocalReduction` leaves it). One rank: nothing is sent and nothing is copied.
public final class ClusterReduction: GradientReducer {
  public let world: Communicator
  /// Floats per allreduce (4 MiB by default).
  public let bucketSize: Int
  private var bucket: [Float]
  /// Allreduce calls and floats sent so far (for the benchmark).
  public private(set) var calls = 0
  public private(set) var floatsSent = 0

  public init(world: Communicator, bucketSize: Int = 1 << 20) {
    precondition(bucketSize >= 1)
    self.world = world
    self.bucketSize = bucketSize
    bucket = []
  }

  public func sumGradients(_ gradients: inout [Tensor?], shapes: [[Int]]) throws {
    guard world.size > 1 else { return }
    precondition(gradients.count == shapes.count, "\(gradients.count) gradients for \(shapes.count) shapes")
    let counts = shapes.map { $0.reduce(1, *) }
    // The stream of floats: every gradient in order (zeros where missing), then one presence flag each.
    let total = counts.reduce(0, +) + counts.count
    let present = gradients.map { $0 == nil ? Float(0) : 1 }
    var sums = [Tensor?](repeating: nil, count: gradients.count)
    var flags = [Float](repeating: 0, count: counts.count)
    // Element `at` of the stream, per piece: (tensor index or flags, offset in it, length).
    var start = 0
    while start < total {
      let n = min(bucketSize, total - start)
      if bucket.count != n { bucket = [Float](repeating: 0, count: n) }
      fill(start: start, count: n, counts: counts, gradients: gradients, present: present)
      world.allreduceSum(&bucket)
      calls += 1
      floatsSent += n
      drain(start: start, count: n, counts: counts, shapes: shapes, into: &sums, flags: &flags)
      start += n
    }
    for i in gradients.indices { gradients[i] = flags[i] > 0 ? sums[i] : nil }
  }

  public func sum(_ values: [Double]) throws -> [Double] {
    var v = values
    world.allreduceSum(&v)
    return v
  }

  /// The pieces of stream range `start ..< start + count`: (piece index, offset within the piece,
  /// offset within the bucket, length); piece `counts.count` is the flags.
  private func pieces(start: Int, count: Int, counts: [Int]) -> [(index: Int, offset: Int, at: Int, length: Int)] {
    var result: [(Int, Int, Int, Int)] = []
    var pieceStart = 0
    let sizes = counts + [counts.count]
    for (i, size) in sizes.enumerated() {
      let lo = max(start, pieceStart), hi = min(start + count, pieceStart + size)
      if lo < hi { result.append((i, lo - pieceStart, lo - start, hi - lo)) }
      pieceStart += size
      if pieceStart >= start + count { break }
    }
    return result
  }

  private func fill(start: Int, count: Int, counts: [Int], gradients: [Tensor?], present: [Float]) {
    for p in pieces(start: start, count: count, counts: counts) {
      if p.index == counts.count {
        for j in 0..<p.length { bucket[p.at + j] = present[p.offset + j] }
      } else if let g = gradients[p.index] {
        if p.offset == 0 && p.length == counts[p.index] {
          g.write(into: &bucket, at: p.at)
        } else {
          let values = g.toArray()
          for j in 0..<p.length { bucket[p.at + j] = values[p.offset + j] }
        }
      } else {
        for j in 0..<p.length { bucket[p.at + j] = 0 }
      }
    }
  }

  private func drain(start: Int, count: Int, counts: [Int], shapes: [[Int]], into sums: inout [Tensor?], flags: inout [Float]) {
    for p in pieces(start: start, count: count, counts: counts) {
      if p.index == counts.count {
        for j in 0..<p.length { flags[p.offset + j] = bucket[p.at + j] }
      } else if p.offset == 0 && p.length == counts[p.index] {
        sums[p.index] = Tensor(shape: shapes[p.index], from: bucket, at: p.at)
      } else {
        // A tensor cut across buckets is assembled in a plain array, then copied once complete.
        var partial = sums[p.index]?.toArray() ?? [Float](repeating: 0, count: counts[p.index])
        for j in 0..<p.length { partial[p.offset + j] = bucket[p.at + j] }
        sums[p.index] = Tensor(shape: shapes[p.index], values: partial)
      }
    }
  }
}
