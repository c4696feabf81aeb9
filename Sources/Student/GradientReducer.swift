import Engine
import Networks

/// Combines what data-parallel workers computed for one optimizer step, so that every worker
/// applies the same update. A process that trains alone uses `LocalReduction` (nothing to combine);
/// a distributed run injects one that sums over its processes.
public protocol GradientReducer: AnyObject {
  /// Replaces each gradient by its sum over the workers (nil = zeros on this worker; after the
  /// call a gradient is nil only if it is nil on every worker).
  func sumGradients(_ gradients: inout [Tensor?], shapes: [[Int]]) throws
  /// The sum over the workers of a few scalars (losses, row counts).
  func sum(_ values: [Double]) throws -> [Double]
}

/// One process: the sums are the local values.
public final class LocalReduction: GradientReducer {
  public init() {}
  public func sumGradients(_ gradients: inout [Tensor?], shapes: [[Int]]) throws {}
  public func sum(_ values: [Double]) throws -> [Double] { values }
}
