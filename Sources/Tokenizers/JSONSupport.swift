import Formats
import Foundation

/// A parsed JSON value, for the loosely structured parts of tokenizer files (pre-tokeniser and
/// normaliser settings) that are checked rather than used.
indirect enum JSONValue: Decodable, Equatable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  init(from decoder: Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() { self = .null }
    else if let value = try? container.decode(Bool.self) { self = .bool(value) }
    else if let value = try? container.decode(Double.self) { self = .number(value) }
    else if let value = try? container.decode(String.self) { self = .string(value) }
    else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
    else { self = .object(try container.decode([String: JSONValue].self)) }
  }

  subscript(key: String) -> JSONValue? {
    if case .object(let members) = self { return members[key] }
    return nil
  }

  var stringValue: String? {
    if case .string(let value) = self { return value }
    return nil
  }

  var boolValue: Bool? {
    if case .bool(let value) = self { return value }
    return nil
  }
}


/// Small file helpers with the module's error messages.
enum FileIO {
  static func readBytes(_ url: URL) throws -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
      throw TokenizerError.fileNotFound(path: url.path)
    }
    guard !isDirectory.boolValue else {
      throw TokenizerError.malformedFile(path: url.path, reason: "is a folder, a file was expected")
    }
    do {
      return [UInt8](try Data(contentsOf: url))
    } catch {
      throw TokenizerError.malformedFile(path: url.path, reason: "cannot be read (\(error.localizedDescription))")
    }
  }

  static func readData(_ url: URL) throws -> Data {
    Data(try readBytes(url))
  }

  /// Writes a file atomically, creating its folder if needed.
  static func write(_ text: String, to url: URL) throws {
    try write(Data(text.utf8), to: url)
  }

  static func write(_ data: Data, to url: URL) throws {
    do {
      try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try data.write(to: url, options: .atomic)
    } catch {
      throw TokenizerError.invalidArgument("cannot write \(url.path): \(error.localizedDescription)")
    }
  }

  /// Decodes JSON with a message that names the file and, where possible, the place.
  static func decodeJSON<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
    let data = try readData(url)
    do {
      return try JSONDecoder().decode(type, from: data)
    } catch let error as DecodingError {
      throw TokenizerError.malformedFile(path: url.path, reason: describe(error))
    } catch {
      throw TokenizerError.malformedFile(path: url.path, reason: "not valid JSON (\(error))")
    }
  }

  static func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
      let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
      return keys.isEmpty ? "top level" : keys.joined(separator: ".")
    }
    switch error {
    case .dataCorrupted(let context):
      let underlying = context.underlyingError.map { " (\($0))" } ?? ""
      return "not valid JSON at \(path(context)): \(context.debugDescription)\(underlying)"
    case .keyNotFound(let key, let context):
      return "missing key \"\(key.stringValue)\" at \(path(context))"
    case .typeMismatch(let type, let context):
      return "expected \(type) at \(path(context)): \(context.debugDescription)"
    case .valueNotFound(let type, let context):
      return "missing \(type) value at \(path(context))"
    @unknown default:
      return "\(error)"
    }
  }
}
