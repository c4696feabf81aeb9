import Cluster
import Engine

extension ClusterReduction {
  /// `pgm cluster-check`'s check of the gradient reducer itself: buckets of 7 floats, so that
  /// tensors and the presence flags are cut across buckets; one gradient missing on rank 0 only
  /// (summed over the others), one missing everywhere (stays nil). Every rank must get the exact
  /// sums — the values are small integers, so summation order cannot excuse a difference.
  public static func check(_ world: Communicator, into report: inout ClusterCheck.Report) throws {
    let shapes = [[5], [13], [1], [4, 5], [3]]
    let missingOnRankZero = 2, missingEverywhere = 4
    func values(_ i: Int, rank: Int) -> [Float] {
      (0..<shapes[i].reduce(1, *)).map { Float(rank + 1) * Float(i * 100 + $0) }
    }
    var gradients: [Tensor?] = shapes.indices.map { i in
      if i == missingEverywhere || (i == missingOnRankZero && world.rank == 0) { return nil }
      return Tensor(shape: shapes[i], values: values(i, rank: world.rank))
    }
    let bucket = 7
    let reducer = ClusterReduction(world: world, bucketSize: bucket)
    try reducer.sumGradients(&gradients, shapes: shapes)

    let n = world.size
    var problems: [String] = []
    for i in shapes.indices {
      let ranksWithIt: [Int] = i == missingEverywhere ? [] : i == missingOnRankZero ? Array(1..<n) : Array(0..<n)
      var expected: [Float]? = nil
      if !ranksWithIt.isEmpty {
        let factor = Float(ranksWithIt.reduce(0) { $0 + $1 + 1 })
        expected = values(i, rank: 0).map { factor * $0 }
      }
      let got: [Float]? = gradients[i]?.toArray()
      let shapeOK = gradients[i].map { $0.shape == shapes[i] } ?? true
      if got != expected || !shapeOK {
        let gotText = got.map { "\(Array($0.prefix(6)))" } ?? "nil"
        let expectedText = expected.map { "\(Array($0.prefix(6)))" } ?? "nil"
        problems.append("gradient \(i): got \(gotText), expected \(expectedText)")
      }
    }
    let streamLength = shapes.map { $0.reduce(1, *) }.reduce(0, +) + shapes.count  // values, then one flag each
    let expectedCalls = n > 1 ? (streamLength + bucket - 1) / bucket : 0
    if reducer.calls != expectedCalls { problems.append("\(reducer.calls) allreduces, expected \(expectedCalls)") }
    report.record("gradient_buckets", problems.isEmpty, problems.joined(separator: "; "))
  }
}
