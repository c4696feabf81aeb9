#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Writing safetensors files.
///
/// Tensors are laid out in the order given (header and data alike), not sorted, so a caller that
/// wants a canonical file passes them sorted. `__metadata__` comes first in the header with its
/// keys sorted. The header is padded with spaces so the data section starts at a multiple of 8.
///
/// With `checksum` (the default) the metadata also records the data section's CRC-32 under
/// `checksumKey`, which `SafeTensorsFile.verifyChecksum()` checks; pass false only to reproduce a
/// file of another writer byte for byte.
public enum SafeTensors {
  /// Writes `tensors` to `url` atomically: into a temporary file in the same folder, flushed to
  /// disk, then renamed over `url`. A failure leaves any existing file untouched.
  public static func write(_ tensors: [(name: String, tensor: TensorData)], metadata: [String: String]? = nil,
                           checksum: Bool = true, to url: URL) throws {
    let header = try encodeHeader(tensors, metadata: Self.metadata(metadata, checksum: checksum ? Self.checksum(tensors) : nil),
                                  file: url.path)
    // Named as AtomicFile names temporaries, so that a later run removes those of a killed writer.
    let temporary = AtomicFile.temporaryURL(for: url).path
    func fail(_ what: String) -> SafeTensorsError {
      SafeTensorsError(file: url.path, reason: .io("\(what): \(FileError.describe(errno))"))
    }
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
    guard fd >= 0 else { throw fail("cannot create temporary file \(temporary)") }
    var closed = false
    var renamed = false
    defer {
      if !closed { close(fd) }
      if !renamed { unlink(temporary) }
    }
    func writeAll(_ bytes: [UInt8]) throws {
      try bytes.withUnsafeBytes { raw in
        var done = 0
        while done < raw.count {
          guard let base = raw.baseAddress else { return }
          let n = posixWrite(fd, base + done, raw.count - done)
          if n < 0 && errno == EINTR { continue }
          guard n > 0 else { throw fail("writing \(temporary) failed") }
          done += n
        }
      }
    }
    try writeAll(header)
    for (_, tensor) in tensors { try writeAll(tensor.bytes) }
    guard fsync(fd) == 0 else { throw fail("flushing \(temporary) failed") }
    closed = true
    guard close(fd) == 0 else { throw fail("closing \(temporary) failed") }
    guard rename(temporary, url.path) == 0 else { throw fail("renaming \(temporary) to \(url.path) failed") }
    renamed = true
    FileSystemSteps.step(url.path)
  }

  /// The complete file image in memory (header and data).
  public static func encode(_ tensors: [(name: String, tensor: TensorData)],
                            metadata: [String: String]? = nil, checksum: Bool = true) throws -> [UInt8] {
    var image = try encodeHeader(tensors, metadata: Self.metadata(metadata, checksum: checksum ? Self.checksum(tensors) : nil),
                                 file: "<memory>")
    for (_, tensor) in tensors { image.append(contentsOf: tensor.bytes) }
    return image
  }

  /// The 8-byte length followed by the space-padded JSON header.
  static func encodeHeader(_ tensors: [(name: String, tensor: TensorData)], metadata: [String: String]?,
                           file: String) throws -> [UInt8] {
    try encodeHeader(layout: tensors.map { ($0.name, $0.tensor.dtype, $0.tensor.shape, $0.tensor.bytes.count) },
                     metadata: metadata, file: file)
  }

  /// The header for tensors stored in the given order: `__metadata__` first with sorted keys, data
  /// offsets relative to the data section, JSON padded with spaces to a multiple of 8.
  static func encodeHeader(layout: [(name: String, dtype: DType, shape: [Int], byteCount: Int)],
                           metadata: [String: String]?, file: String) throws -> [UInt8] {
    var members: [String] = []
    if let metadata {
      let items = metadata.sorted { $0.key < $1.key }.map { "\(JSONText.quoted($0.key)):\(JSONText.quoted($0.value))" }
      members.append("\"__metadata__\":{\(items.joined(separator: ","))}")
    }
    var names = Set<String>()
    var offset = 0
    for (name, dtype, shape, byteCount) in layout {
      guard name != "__metadata__" else { throw SafeTensorsError(file: file, tensor: name, reason: .reservedName) }
      guard names.insert(name).inserted else { throw SafeTensorsError(file: file, tensor: name, reason: .duplicateName) }
      let end = offset + byteCount
      let dims = shape.map(String.init).joined(separator: ",")
      members.append("\(JSONText.quoted(name)):{\"dtype\":\"\(dtype.safetensorsName)\","
        + "\"shape\":[\(dims)],\"data_offsets\":[\(offset),\(end)]}")
      offset = end
    }
    var json = Array("{\(members.joined(separator: ","))}".utf8)
    json.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
    var out = ByteWriter(capacity: 8 + json.count)
    out.append(UInt64(json.count))
    out.append(contentsOf: json)
    return out.bytes
  }
}

/// `write(2)`, named apart from the `write` functions above.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
  write(fd, buffer, count)
}
