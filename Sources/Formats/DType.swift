/// The element type of a tensor payload, independent of any tensor engine.
///
/// Every multi-byte type is stored little-endian. The set is the intersection of what safetensors
/// and `torch.save` can both express and what this project plausibly meets.
public enum DType: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
  case f64, f32, f16, bf16
  case i64, i32, i16, i8, u8
  case bool

  /// Bytes per element.
  public var elementSize: Int {
    switch self {
    case .f64, .i64: return 8
    case .f32, .i32: return 4
    case .f16, .bf16, .i16: return 2
    case .i8, .u8, .bool: return 1
    }
  }

  /// Whether `TensorData.floats()` accepts this type.
  public var isFloatingPoint: Bool {
    switch self {
    case .f64, .f32, .f16, .bf16: return true
    default: return false
    }
  }

  /// The dtype string used in safetensors headers (`"F32"`, `"BF16"`, `"BOOL"`, ...).
  public var safetensorsName: String {
    switch self {
    case .f64: return "F64"
    case .f32: return "F32"
    case .f16: return "F16"
    case .bf16: return "BF16"
    case .i64: return "I64"
    case .i32: return "I32"
    case .i16: return "I16"
    case .i8: return "I8"
    case .u8: return "U8"
    case .bool: return "BOOL"
    }
  }

  /// Parses a safetensors dtype string; `nil` for types this module does not handle.
  public init?(safetensorsName name: String) {
    guard let match = DType.allCases.first(where: { $0.safetensorsName == name }) else { return nil }
    self = match
  }

  /// The legacy storage class name torch pickles for this type (`FloatStorage`, ...).
  public var torchStorageName: String {
    switch self {
    case .f64: return "DoubleStorage"
    case .f32: return "FloatStorage"
    case .f16: return "HalfStorage"
    case .bf16: return "BFloat16Storage"
    case .i64: return "LongStorage"
    case .i32: return "IntStorage"
    case .i16: return "ShortStorage"
    case .i8: return "CharStorage"
    case .u8: return "ByteStorage"
    case .bool: return "BoolStorage"
    }
  }

  /// Resolves the type named by a pickled storage class or dtype global inside module `torch`
  /// (`FloatStorage`, `float32`, `half`, ...). `UntypedStorage` holds raw bytes, hence `.u8`.
  init?(torchName name: String) {
    switch name {
    case "UntypedStorage", "uint8": self = .u8
    case "float64", "double": self = .f64
    case "float32", "float": self = .f32
    case "float16", "half": self = .f16
    case "bfloat16": self = .bf16
    case "int64", "long": self = .i64
    case "int32", "int": self = .i32
    case "int16", "short": self = .i16
    case "int8": self = .i8
    case "bool": self = .bool
    default:
      guard let match = DType.allCases.first(where: { $0.torchStorageName == name }) else { return nil }
      self = match
    }
  }

  public var description: String { safetensorsName }
}
