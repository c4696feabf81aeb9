import Formats

/// One tensor of a file, known by its header or pickle entry before its data is read.
struct SourceTensor: Sendable {
  let name: String
  let dtype: DType
  let shape: [Int]
}

/// Named tensors that are read one at a time, so that an import never holds a whole checkpoint.
protocol TensorSource {
  /// The file, for error messages.
  var file: String { get }
  var tensors: [SourceTensor] { get }
  func read(_ index: Int) throws -> TensorData
}

/// Tensors inside a `torch.save` archive (a Lightning `state_dict`, or the EMA list).
struct TorchTensorSource: TensorSource {
  let checkpoint: TorchCheckpoint
  let references: [(name: String, tensor: TorchTensorRef)]

  var file: String { checkpoint.fileName }
  var tensors: [SourceTensor] { references.map { SourceTensor(name: $0.name, dtype: $0.tensor.dtype, shape: $0.tensor.shape) } }
  func read(_ index: Int) throws -> TensorData { try checkpoint.read(references[index].tensor) }
}

/// Tensors of a safetensors file.
struct SafeTensorsSource: TensorSource {
  let safetensors: SafeTensorsFile

  var file: String { safetensors.fileName }
  var tensors: [SourceTensor] { safetensors.entries.map { SourceTensor(name: $0.name, dtype: $0.dtype, shape: $0.shape) } }
  func read(_ index: Int) throws -> TensorData { try safetensors.read(safetensors.entries[index].name) }
}

extension TensorData {
  /// The values as float32 for a network: floating-point dtypes only (F64 is rounded), and no
  /// NaN or infinity (also none that F64 → F32 rounding creates).
  func checkedFloats(name: String, file: String) throws -> [Float] {
    guard dtype.isFloatingPoint else {
      throw ImportError.unsupportedDType(file: file, name: name, dtype: dtype.safetensorsName)
    }
    if dtype == .f64, let bad = try doubles().enumerated().first(where: { $0.element.isFinite && !Float($0.element).isFinite }) {
      throw ImportError.unsupported(file: file, reason: "tensor \(name) holds \(bad.element) at element \(bad.offset), "
        + "which does not fit in float32")
    }
    let values = try floats()
    if let bad = values.firstIndex(where: { !$0.isFinite }) {
      throw ImportError.nonFinite(file: file, name: name, index: bad, value: values[bad])
    }
    return values
  }
}
