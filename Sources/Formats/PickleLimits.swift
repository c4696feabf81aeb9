/// Resource bounds for decoding a pickle, so that a hostile or corrupt file fails with an error
/// instead of exhausting memory, time or the stack. The defaults are far above what real
/// checkpoints need.
public struct PickleLimits: Sendable {
  /// Deepest nesting of containers in the decoded value. Decoding, comparing and releasing
  /// values recurse once per level, so this also bounds stack use.
  public var maxDepth: Int
  /// Most values the decoded tree may hold (a shared object counts each time it appears, which
  /// bounds "billion laughs" pickles that reference one list from many places), and most
  /// objects, stack entries and memo entries the pickle program may create. Memory use is
  /// proportional to this bound plus the pickle's size.
  public var maxValues: Int
  /// Most dimensions a tensor may have.
  public var maxTensorRank: Int

  /// The defaults suit any real checkpoint; lower them to fail faster on untrusted input.
  public init(maxDepth: Int = 256, maxValues: Int = 1_000_000, maxTensorRank: Int = 64) {
    self.maxDepth = maxDepth
    self.maxValues = maxValues
    self.maxTensorRank = maxTensorRank
  }
}
