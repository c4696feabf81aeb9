/// A tensor found in a checkpoint's pickle, not yet read: where its storage is and how the view
/// lies in it. `TorchCheckpoint.read(_:)` turns it into `TensorData`.
public struct TorchTensorRef: Equatable, Sendable, CustomStringConvertible {
  public let dtype: DType
  public let shape: [Int]
  /// Strides in elements, one per dimension (all non-negative).
  public let strides: [Int]
  /// Offset of element [0, 0, ...] in the storage, in elements.
  public let storageOffset: Int
  /// The storage's name in the archive (`<archive>/data/<key>`).
  public let storageKey: String
  /// The device the tensor was saved from (`"cpu"`, `"cuda:0"`); informational.
  public let storageLocation: String
  /// Number of elements the pickle declares for the whole storage.
  public let storageElementCount: Int
  public let requiresGrad: Bool

  /// Number of elements of the view (1 for a scalar).
  public var elementCount: Int { shape.reduce(1, *) }

  /// Whether the view is row-major contiguous (so its bytes are one run of the storage).
  public var isContiguous: Bool {
    var expected = 1
    for (size, stride) in zip(shape, strides).reversed() where size != 1 {
      if stride != expected { return false }
      expected *= size
    }
    return true
  }

  public var description: String {
    "tensor(\(dtype), shape \(shape), strides \(strides), storage \"\(storageKey)\" + \(storageOffset))"
  }
}
