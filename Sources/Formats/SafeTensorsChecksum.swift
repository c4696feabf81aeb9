// A checksum of the data section, recorded in `__metadata__` by this project's writers and checked
// by loaders, so that a model or checkpoint damaged on disk is refused instead of loaded as
// different weights.
//
// CRC-32 (zlib's polynomial) rather than SHA-256: it catches every flipped byte and every burst up
// to 32 bits, which is the failure at hand (not tampering), it is the same code that checks ZIP
// entries, and a user can recompute it with Python's `zlib.crc32(data[8 + n:])`. Speed is in
// `CRC32Tests.throughput`.

extension SafeTensors {
  /// The metadata key holding the CRC-32 of the data section (every byte after the header), as
  /// eight lowercase hexadecimal digits. A plain string, so PyTorch's loaders ignore it.
  public static let checksumKey = "pgm_data_crc32"

  /// `metadata` with the checksum entry set to `crc`, or left as given when `crc` is nil.
  static func metadata(_ metadata: [String: String]?, checksum crc: UInt32?) -> [String: String]? {
    guard let crc else { return metadata }
    var result = metadata ?? [:]
    result[checksumKey] = CRC32.hex(crc)
    return result
  }

  /// The CRC-32 of tensors laid out one after another, as the writers store them.
  static func checksum(_ tensors: [(name: String, tensor: TensorData)]) -> UInt32 {
    var crc = CRC32()
    for (_, tensor) in tensors { crc.update(tensor.bytes) }
    return crc.value
  }

  /// Where the value of the checksum entry starts in an encoded header, so a streaming writer can
  /// fill it in once the data is written. The quoted key followed by `":"` cannot occur inside a
  /// JSON string (its quotes would be escaped), so the first match is the metadata entry.
  static func checksumValueOffset(in header: [UInt8]) -> Int? {
    let needle = Array("\"\(checksumKey)\":\"".utf8)
    guard header.count >= needle.count else { return nil }
    for start in 0...(header.count - needle.count) where header[start] == needle[0] {
      if header[start ..< start + needle.count].elementsEqual(needle) { return start + needle.count }
    }
    return nil
  }
}

extension SafeTensorsFile {
  /// The data-section checksum recorded when the file was written; nil for files without one
  /// (written by other programs or before checksums were recorded).
  public var recordedChecksum: UInt32? {
    get throws {
      guard let text = metadata?[SafeTensors.checksumKey] else { return nil }
      guard let value = CRC32.parseHex(text) else {
        throw SafeTensorsError(file: fileName, reason: .invalidMetadata(
          "\(SafeTensors.checksumKey) is \"\(text.prefix(40))\", not eight hexadecimal digits"))
      }
      return value
    }
  }

  /// Reads the whole data section once (in bounded chunks) and compares its CRC-32 with the one
  /// recorded in the metadata. Throws `.checksumMismatch` naming the file when they differ; returns
  /// false without reading anything when the file records no checksum.
  @discardableResult
  public func verifyChecksum(chunkSize: Int = 4 << 20) throws -> Bool {
    guard let recorded = try recordedChecksum else { return false }
    var crc = CRC32()
    let dataBytes = source.size - dataStart
    var done = 0
    while done < dataBytes {
      let count = min(chunkSize, dataBytes - done)
      do { crc.update(try source.read(at: dataStart + done, count: count)) } catch let error as ByteSourceError {
        throw SafeTensorsError(file: fileName, reason: .io(error.description))
      }
      done += count
    }
    guard crc.value == recorded else {
      throw SafeTensorsError(file: fileName, reason: .checksumMismatch(recorded: recorded, computed: crc.value,
                                                                       dataBytes: dataBytes))
    }
    return true
  }
}
