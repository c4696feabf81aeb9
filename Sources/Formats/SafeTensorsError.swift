/// Why a safetensors file could not be read or written. `file` and `tensor` say where.
public struct SafeTensorsError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The path, or the label given for an in-memory buffer.
  public let file: String
  /// The header entry concerned, when the problem is about one.
  public let tensor: String?
  /// What is wrong.
  public let reason: Reason

  /// The kinds of problem, with the values involved.
  public enum Reason: Equatable, Sendable {
    /// The file cannot even hold the 8-byte header length.
    case fileTooShort(size: Int)
    /// The declared header length exceeds `SafeTensorsFile.maxHeaderLength`.
    case headerTooLarge(length: UInt64)
    /// The declared header length runs past the end of the file.
    case headerBeyondFile(length: UInt64, fileSize: Int)
    case headerNotUTF8
    case headerNotJSON(String)
    case headerNotObject
    case entryNotObject
    case missingField(String)
    /// A field is present but has the wrong JSON type or an invalid value.
    case invalidField(String, String)
    case unknownDType(String)
    /// A dimension is negative or not an integer, or the byte count overflows.
    case invalidShape(String)
    /// `data_offsets` spans a different number of bytes than shape × element size.
    case byteSpanMismatch(expected: Int, actual: Int)
    /// `data_offsets` is reversed or reaches outside the data section.
    case offsetsOutOfRange(start: Int, end: Int, dataSize: Int)
    /// The entry's bytes overlap those of `other`.
    case overlapping(other: String)
    case duplicateName
    /// `__metadata__` is not an object of strings.
    case invalidMetadata(String)
    case tensorNotFound
    /// The name `__metadata__` is reserved for the metadata block (writer).
    case reservedName
    /// Reading or writing the file failed.
    case io(String)
    /// The data section's CRC-32 differs from the one recorded in `__metadata__` when the file was
    /// written (`SafeTensors.checksumKey`): bytes changed on disk.
    case checksumMismatch(recorded: UInt32, computed: UInt32, dataBytes: Int)
  }

  /// Builds an error (callers outside the module may wrap their own checks in it).
  public init(file: String, tensor: String? = nil, reason: Reason) {
    self.file = file
    self.tensor = tensor
    self.reason = reason
  }

  public var description: String {
    if case .checksumMismatch = reason { return "\(file) is corrupt: \(reason.explanation)" }
    let place = tensor.map { "\(file): tensor \"\($0)\"" } ?? file
    return "\(place): \(reason.explanation)"
  }
}

extension SafeTensorsError.Reason {
  var explanation: String {
    switch self {
    case .fileTooShort(let size):
      return "file is \(size) bytes, too short for a safetensors header (at least 8)"
    case .headerTooLarge(let length):
      return "declared header length \(length) exceeds the \(SafeTensorsFile.maxHeaderLength)-byte limit"
    case let .headerBeyondFile(length, fileSize):
      return "declared header length \(length) runs past the end of the \(fileSize)-byte file"
    case .headerNotUTF8: return "header is not valid UTF-8"
    case .headerNotJSON(let detail): return "header is not valid JSON: \(detail)"
    case .headerNotObject: return "header is not a JSON object"
    case .entryNotObject: return "header entry is not a JSON object"
    case .missingField(let field): return "header entry has no \"\(field)\""
    case let .invalidField(field, why): return "invalid \"\(field)\": \(why)"
    case .unknownDType(let name): return "unknown dtype \"\(name)\""
    case .invalidShape(let why): return "invalid shape: \(why)"
    case let .byteSpanMismatch(expected, actual):
      return "data_offsets span \(actual) bytes but shape × element size is \(expected)"
    case let .offsetsOutOfRange(start, end, dataSize):
      return "data_offsets [\(start), \(end)] do not lie inside the \(dataSize)-byte data section"
    case .overlapping(let other): return "bytes overlap those of tensor \"\(other)\""
    case .duplicateName: return "name appears more than once in the header"
    case .invalidMetadata(let why): return "invalid __metadata__: \(why)"
    case .tensorNotFound: return "no such tensor in the file"
    case .reservedName: return "\"__metadata__\" is reserved and cannot name a tensor"
    case .io(let detail): return detail
    case let .checksumMismatch(recorded, computed, dataBytes):
      return "checksum mismatch (the CRC-32 of its \(dataBytes)-byte data section is \(CRC32.hex(computed)), the header "
        + "records \(CRC32.hex(recorded))); rerun the phase that wrote it, or restore the file"
    }
  }
}

/// Header checks throw a bare reason; the reader then attaches the file and tensor names.
extension SafeTensorsError.Reason: Error {}
