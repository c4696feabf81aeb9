import Foundation

/// Writes a float32 safetensors file one tensor at a time, so that converting a checkpoint of any
/// size holds one tensor in memory, never the whole model. Every name and shape is known up
/// front, which fixes the header; tensors must then be appended in that order.
///
/// The file is written under a temporary name beside the target, flushed and renamed by
/// `finish()`; if anything fails (or `finish()` is never called) the temporary file is removed and
/// an existing file at the target is left untouched. The layout is the one `SafeTensors.write`
/// produces for the same tensors and metadata (header in the given order, `__metadata__` first
/// with sorted keys, padded with spaces to a multiple of 8), byte for byte.
final class SafeTensorsStreamWriter {
  let url: URL
  private let layout: [(name: String, shape: [Int])]
  private let temporary: URL
  private let handle: FileHandle
  private var next = 0
  private var finished = false

  init(url: URL, layout: [(name: String, shape: [Int])], metadata: [String: String]? = nil) throws {
    self.url = url
    self.layout = layout
    temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(UUID().uuidString)")
    guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
      throw CheckpointError.invalid(temporary.path, "cannot create the file (is the folder writable?)")
    }
    do {
      handle = try FileHandle(forWritingTo: temporary)
      try handle.write(contentsOf: Self.header(layout, metadata: metadata))
    } catch {
      try? FileManager.default.removeItem(at: temporary)
      throw CheckpointError.invalid(url.path, "cannot write: \(error)")
    }
  }

  deinit {
    if !finished {
      try? handle.close()
      try? FileManager.default.removeItem(at: temporary)
    }
  }

  /// Appends the next tensor of the layout.
  func append(_ name: String, _ values: [Float]) throws {
    precondition(next < layout.count && layout[next].name == name,
                 "SafeTensorsStreamWriter: \(name) appended out of order (expected \(next < layout.count ? layout[next].name : "nothing"))")
    precondition(values.count == layout[next].shape.reduce(1, *), "SafeTensorsStreamWriter: \(name) has \(values.count) values for \(layout[next].shape)")
    var data = Data(count: values.count * 4)
    data.withUnsafeMutableBytes { raw in
      for (i, v) in values.enumerated() { raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
    }
    do { try handle.write(contentsOf: data) } catch { throw CheckpointError.invalid(url.path, "cannot write \(name): \(error)") }
    next += 1
  }

  /// Flushes the file to disk and moves it into place.
  func finish() throws {
    precondition(next == layout.count, "SafeTensorsStreamWriter: \(layout.count - next) tensors were never appended")
    do {
      try handle.synchronize()
      try handle.close()
    } catch { throw CheckpointError.invalid(url.path, "cannot flush the file: \(error)") }
    guard rename(temporary.path, url.path) == 0 else {
      throw CheckpointError.invalid(url.path, "cannot move the finished file into place: \(String(cString: strerror(errno)))")
    }
    finished = true
  }

  /// The 8-byte header length and the space-padded JSON header, every tensor F32.
  static func header(_ layout: [(name: String, shape: [Int])], metadata: [String: String]?) -> Data {
    var members: [String] = []
    if let metadata {
      let items = metadata.sorted { $0.key < $1.key }.map { "\(quoted($0.key)):\(quoted($0.value))" }
      members.append("\"__metadata__\":{\(items.joined(separator: ","))}")
    }
    var offset = 0
    for (name, shape) in layout {
      let end = offset + 4 * shape.reduce(1, *)
      members.append("\(quoted(name)):{\"dtype\":\"F32\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],"
        + "\"data_offsets\":[\(offset),\(end)]}")
      offset = end
    }
    var json = Array("{\(members.joined(separator: ","))}".utf8)
    json.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
    var out = Data()
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: json)
    return out
  }

  /// A JSON string literal, escaping only what JSON requires.
  static func quoted(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }
}
