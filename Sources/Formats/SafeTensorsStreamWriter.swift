import Foundation

/// Writes a float32 safetensors file one tensor at a time, so that converting a checkpoint of any
/// size holds one tensor in memory, never the whole model. Every name and shape is known up
/// front, which fixes the header; tensors must then be appended in that order.
///
/// The file is written under a temporary name beside the target, flushed and renamed by
/// `finish()`; if anything fails (or `finish()` is never called) the temporary file is removed and
/// an existing file at the target is left untouched. The layout is the one `SafeTensors.write`
/// produces for the same tensors and metadata (header in the given order, `__metadata__` first
/// with sorted keys, padded with spaces to a multiple of 8), byte for byte — including the data
/// checksum, which the header holds as a placeholder until `finish()` writes the real value over it.
public final class SafeTensorsStreamWriter {
  public let url: URL
  private let layout: [(name: String, shape: [Int])]
  private let temporary: URL
  private let handle: FileHandle
  private var next = 0
  private var finished = false
  /// File offset of the checksum's eight hex digits in the header; nil without a checksum.
  private let checksumOffset: Int?
  private var crc = CRC32()

  public init(url: URL, layout: [(name: String, shape: [Int])], metadata: [String: String]? = nil,
              checksum: Bool = true) throws {
    self.url = url
    self.layout = layout
    let header = try Self.header(layout, metadata: SafeTensors.metadata(metadata, checksum: checksum ? 0 : nil))
    checksumOffset = checksum ? SafeTensors.checksumValueOffset(in: header) : nil
    precondition(checksumOffset != nil || !checksum, "SafeTensorsStreamWriter: no checksum entry in the header")
    temporary = AtomicFile.temporaryURL(for: url)
    guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
      throw SafeTensorsError(file: temporary.path, reason: .io("cannot create the file (is the folder writable?)"))
    }
    do {
      handle = try FileHandle(forWritingTo: temporary)
      try handle.write(contentsOf: Data(header))
    } catch {
      try? FileManager.default.removeItem(at: temporary)
      throw SafeTensorsError(file: url.path, reason: .io("cannot write: \(error)"))
    }
  }

  deinit {
    if !finished {
      try? handle.close()
      try? FileManager.default.removeItem(at: temporary)
    }
  }

  /// Appends the next tensor of the layout.
  public func append(_ name: String, _ values: [Float]) throws {
    precondition(next < layout.count && layout[next].name == name,
                 "SafeTensorsStreamWriter: \(name) appended out of order (expected \(next < layout.count ? layout[next].name : "nothing"))")
    precondition(values.count == layout[next].shape.reduce(1, *), "SafeTensorsStreamWriter: \(name) has \(values.count) values for \(layout[next].shape)")
    var data = Data(count: values.count * 4)
    data.withUnsafeMutableBytes { raw in
      for (i, v) in values.enumerated() { raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
    }
    data.withUnsafeBytes { crc.update($0) }
    do { try handle.write(contentsOf: data) } catch { throw SafeTensorsError(file: url.path, reason: .io("cannot write \(name): \(error)")) }
    next += 1
  }

  /// Flushes the file to disk and moves it into place.
  public func finish() throws {
    precondition(next == layout.count, "SafeTensorsStreamWriter: \(layout.count - next) tensors were never appended")
    do {
      if let checksumOffset {
        try handle.seek(toOffset: UInt64(checksumOffset))
        try handle.write(contentsOf: Data(CRC32.hex(crc.value).utf8))
      }
      try handle.synchronize()
      try handle.close()
    } catch { throw SafeTensorsError(file: url.path, reason: .io("cannot flush the file: \(error)")) }
    guard rename(temporary.path, url.path) == 0 else {
      throw SafeTensorsError(file: url.path, reason: .io("cannot move the finished file into place: \(String(cString: strerror(errno)))"))
    }
    finished = true
  }

  /// The 8-byte header length and the space-padded JSON header, every tensor F32.
  static func header(_ layout: [(name: String, shape: [Int])], metadata: [String: String]?) throws -> [UInt8] {
    try SafeTensors.encodeHeader(layout: layout.map { ($0.name, .f32, $0.shape, 4 * $0.shape.reduce(1, *)) },
                                 metadata: metadata, file: "<stream>")
  }
}
