import Engine

/// One batch of distillation targets: the masked inputs x_t, their times, and for every masked
/// position (rows in (sequence, position) order) the teacher's target distribution.
public struct TargetBatch: Sendable {
  public var inputs: TokenTensor
  public var times: [Double]
  public var targets: SparseDistributions

  public init(inputs: TokenTensor, times: [Double], targets: SparseDistributions) {
    self.inputs = inputs; self.times = times; self.targets = targets
  }
}
