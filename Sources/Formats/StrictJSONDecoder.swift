// A JSON decoder for files people write by hand (recipes): every key of the file must be one the
// decoded type asks for, numbers must be of the kind the field holds, and every error names the
// field. Foundation's JSONDecoder ignores unknown keys (a misspelled "learning_rate" silently
// left the default in place) and reports a fraction for an integer field as "not valid JSON".
import Foundation

/// What went wrong, with the dotted path of the field ("distill.student.steps").
public struct StrictJSONError: Error, CustomStringConvertible, Equatable {
  public var path: String
  public var message: String
  public init(path: String, message: String) { self.path = path; self.message = message }
  public var description: String { path.isEmpty ? message : "field '\(path)': \(message)" }
}

public struct StrictJSONDecoder {
  /// Known misspellings or names from other programs → the key this program uses.
  public var aliases: [String: String]

  public init(aliases: [String: String] = [:]) { self.aliases = aliases }

  public func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
    let root: JSONValue
    do { root = try JSONParser.parse([UInt8](data), maxDepth: 64) } catch let e as JSONError {
      let (line, column) = Self.position(of: e.offset, in: data)
      throw StrictJSONError(path: "", message: "not valid JSON: \(e.message) (line \(line), column \(column))")
    }
    let tracker = KeyTracker()
    let value: T
    do {
      value = try T(from: StrictValueDecoder(value: root, codingPath: [], tracker: tracker))
    } catch let DecodingError.keyNotFound(key, context) {
      // A required key is missing: a close spelling of it in the same object is the likelier story.
      let path = Self.path(context.codingPath)
      let members = Self.object(at: context.codingPath, in: root).map(\.key)
      let near = members.filter { tracker.asked[path]?.contains($0) != true }
        .min { Self.distance($0, key.stringValue) < Self.distance($1, key.stringValue) }
      let full = Self.path(context.codingPath + [key])
      if let near, Self.distance(near, key.stringValue) <= max(2, key.stringValue.count / 3) {
        throw StrictJSONError(path: "", message: "missing field '\(full)'; the file has '\(near)' there: did you mean '\(key.stringValue)'?")
      }
      throw StrictJSONError(path: "", message: "missing field '\(full)' (required)")
    }
    let unknown = Self.unknownKeys(root, path: [], tracker: tracker)
    if !unknown.isEmpty {
      let lines = unknown.map { item -> String in
        var s = "unknown key '\(item.path)'"
        if let suggestion = suggestion(for: item.key, at: item.parent, tracker: tracker) { s += " (did you mean '\(suggestion)'?)" }
        return s
      }
      throw StrictJSONError(path: "", message: lines.joined(separator: "; "))
    }
    return value
  }

  // MARK: - unknown keys

  static func unknownKeys(_ value: JSONValue, path: [String], tracker: KeyTracker) -> [(path: String, parent: String, key: String)] {
    switch value {
    case .object(let members):
      let here = path.joined(separator: ".")
      var out: [(String, String, String)] = []
      for (key, member) in members {
        let childPath = path + [key]
        if tracker.asked[here]?.contains(key) == true {
          out += unknownKeys(member, path: childPath, tracker: tracker)
        } else if tracker.asked[here] != nil {
          out.append((childPath.joined(separator: "."), here, key))
        }
      }
      return out
    case .array(let elements):
      return elements.enumerated().flatMap { unknownKeys($1, path: path + [String($0)], tracker: tracker) }
    default:
      return []
    }
  }

  /// The nearest key the type knows: at the same place (spelling), or the same name elsewhere
  /// (a key put in the wrong section), or a known alias.
  func suggestion(for key: String, at parent: String, tracker: KeyTracker) -> String? {
    let here = tracker.asked[parent] ?? []
    let target = aliases[key] ?? aliases[key.lowercased()]
    if let target, here.contains(target) { return Self.join(parent, target) }
    let lowered = key.lowercased().replacingOccurrences(of: "-", with: "_")
    if here.contains(lowered) { return Self.join(parent, lowered) }
    if let best = here.min(by: { Self.distance($0, key) < Self.distance($1, key) }),
       Self.distance(best, key) <= max(2, key.count / 3) {
      return Self.join(parent, best)
    }
    for name in [target, key].compactMap({ $0 }) {
      let elsewhere = tracker.asked.filter { $0.value.contains(name) }.map { Self.join($0.key, name) }.sorted()
      if let first = elsewhere.first { return first }
    }
    return nil
  }

  static func join(_ parent: String, _ key: String) -> String { parent.isEmpty ? key : parent + "." + key }

  static func distance(_ a: String, _ b: String) -> Int {
    let x = Array(a.lowercased()), y = Array(b.lowercased())
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var previous = Array(0...y.count)
    for i in 1...x.count {
      var current = [i] + [Int](repeating: 0, count: y.count)
      for j in 1...y.count {
        current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
      }
      previous = current
    }
    return previous[y.count]
  }

  static func path(_ codingPath: [CodingKey]) -> String {
    codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
  }

  static func object(at codingPath: [CodingKey], in root: JSONValue) -> [(key: String, value: JSONValue)] {
    var value = root
    for key in codingPath {
      switch value {
      case .object(let members):
        guard let next = members.first(where: { $0.key == key.stringValue }) else { return [] }
        value = next.value
      case .array(let elements):
        guard let i = key.intValue, i < elements.count else { return [] }
        value = elements[i]
      default: return []
      }
    }
    if case .object(let members) = value { return members }
    return []
  }

  static func position(of offset: Int, in data: Data) -> (line: Int, column: Int) {
    var line = 1, column = 1
    for byte in data.prefix(offset) {
      if byte == 0x0A { line += 1; column = 1 } else { column += 1 }
    }
    return (line, column)
  }
}

/// The keys each object (by dotted path) was asked for while decoding.
final class KeyTracker {
  var asked: [String: Set<String>] = [:]
  func touch(_ path: String) { if asked[path] == nil { asked[path] = [] } }
  func ask(_ key: String, at path: String) { asked[path, default: []].insert(key) }
}

struct StrictIndexKey: CodingKey {
  var stringValue: String
  var intValue: Int?
  init(_ i: Int) { stringValue = String(i); intValue = i }
  init?(stringValue: String) { self.stringValue = stringValue; intValue = Int(stringValue) }
  init?(intValue: Int) { self.init(intValue) }
}

struct StrictValueDecoder: Decoder {
  let value: JSONValue
  let codingPath: [CodingKey]
  let tracker: KeyTracker
  var userInfo: [CodingUserInfoKey: Any] { [:] }

  var pathString: String { StrictJSONDecoder.path(codingPath) }

  func fail(_ message: String) -> StrictJSONError { StrictJSONError(path: pathString, message: message) }

  func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
    guard case .object(let members) = value else { throw fail("expected an object, got \(value.typeName)") }
    var seen: [String: JSONValue] = [:]
    for (key, member) in members {
      guard seen[key] == nil else { throw fail("the key '\(key)' appears twice") }
      seen[key] = member
    }
    tracker.touch(pathString)
    return KeyedDecodingContainer(StrictKeyedContainer<Key>(members: seen, order: members.map(\.key), decoder: self))
  }

  func unkeyedContainer() throws -> UnkeyedDecodingContainer {
    guard case .array(let elements) = value else { throw fail("expected an array, got \(value.typeName)") }
    return StrictUnkeyedContainer(elements: elements, decoder: self)
  }

  func singleValueContainer() throws -> SingleValueDecodingContainer { StrictSingleValue(decoder: self) }

  func child(_ value: JSONValue, _ key: CodingKey) -> StrictValueDecoder {
    StrictValueDecoder(value: value, codingPath: codingPath + [key], tracker: tracker)
  }

  // MARK: scalars

  func decodeInteger<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
    let kind = T.isSigned ? "a whole number" : "a whole number ≥ 0"
    switch value {
    case .integer(let i):
      guard let v = T(exactly: i) else { throw fail("\(i) is out of range (expected \(kind) up to \(T.max))") }
      return v
    case .hugeInteger(let text):
      throw fail("\(text) is out of range (expected \(kind) up to \(T.max))")
    case .number(let d):
      guard d.rounded() == d else { throw fail("expected \(kind), got \(Self.format(d))") }
      guard let v = T(exactly: d) else { throw fail("\(Self.format(d)) is out of range (expected \(kind) up to \(T.max))") }
      return v
    default:
      throw fail("expected \(kind), got \(value.typeName)")
    }
  }

  func decodeDouble() throws -> Double {
    switch value {
    case .integer(let i): return Double(i)
    case .number(let d): return d
    case .hugeInteger(let text): return Double(text) ?? .infinity
    default: throw fail("expected a number, got \(value.typeName)")
    }
  }

  func decodeFloat() throws -> Float {
    let d = try decodeDouble()
    let f = Float(d)
    guard f.isFinite || !d.isFinite else { throw fail("\(Self.format(d)) is out of the range of a 32-bit float") }
    return f
  }

  func decodeString() throws -> String {
    guard case .string(let s) = value else { throw fail("expected a string, got \(value.typeName)") }
    return s
  }

  func decodeBool() throws -> Bool {
    guard case .bool(let b) = value else { throw fail("expected true or false, got \(value.typeName)") }
    return b
  }

  var isNull: Bool { if case .null = value { return true }; return false }

  func decode<T: Decodable>(_ type: T.Type) throws -> T {
    switch type {
    case is Int.Type: return try decodeInteger(Int.self) as! T
    case is Int32.Type: return try decodeInteger(Int32.self) as! T
    case is Int64.Type: return try decodeInteger(Int64.self) as! T
    case is UInt64.Type: return try decodeInteger(UInt64.self) as! T
    case is UInt32.Type: return try decodeInteger(UInt32.self) as! T
    case is UInt.Type: return try decodeInteger(UInt.self) as! T
    case is Double.Type: return try decodeDouble() as! T
    case is Float.Type: return try decodeFloat() as! T
    case is String.Type: return try decodeString() as! T
    case is Bool.Type: return try decodeBool() as! T
    default:
      do { return try T(from: self) } catch let DecodingError.dataCorrupted(context) {
        // e.g. an enum's raw value: "Cannot initialize Kind from invalid String value pgmm".
        let path = StrictJSONDecoder.path(context.codingPath.isEmpty ? codingPath : context.codingPath)
        var shown = ""
        if case .string(let s) = value { shown = "'\(s)' is not one of the accepted values" } else { shown = context.debugDescription }
        throw StrictJSONError(path: path, message: shown)
      }
    }
  }

  static func format(_ d: Double) -> String {
    d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : "\(d)"
  }
}

struct StrictKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
  let members: [String: JSONValue]
  let order: [String]
  let decoder: StrictValueDecoder
  var codingPath: [CodingKey] { decoder.codingPath }

  var allKeys: [Key] {
    for key in order { decoder.tracker.ask(key, at: decoder.pathString) }
    return order.compactMap { Key(stringValue: $0) }
  }

  func contains(_ key: Key) -> Bool {
    decoder.tracker.ask(key.stringValue, at: decoder.pathString)
    return members[key.stringValue] != nil
  }

  func member(_ key: Key) throws -> StrictValueDecoder {
    decoder.tracker.ask(key.stringValue, at: decoder.pathString)
    guard let value = members[key.stringValue] else {
      throw DecodingError.keyNotFound(key, DecodingError.Context(codingPath: codingPath, debugDescription: "missing"))
    }
    return decoder.child(value, key)
  }

  func decodeNil(forKey key: Key) throws -> Bool { try member(key).isNull }
  func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
    let m = try member(key)
    if m.isNull { throw m.fail("expected a value, got null") }
    return try m.decode(type)
  }
  func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
    guard contains(key) else { return nil }
    let m = try member(key)
    if m.isNull { return nil }
    return try m.decode(type)
  }
  func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
    try member(key).container(keyedBy: type)
  }
  func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { try member(key).unkeyedContainer() }
  func superDecoder() throws -> Decoder { decoder }
  func superDecoder(forKey key: Key) throws -> Decoder { try member(key) }
}

struct StrictUnkeyedContainer: UnkeyedDecodingContainer {
  let elements: [JSONValue]
  let decoder: StrictValueDecoder
  var currentIndex = 0
  var codingPath: [CodingKey] { decoder.codingPath }
  var count: Int? { elements.count }
  var isAtEnd: Bool { currentIndex >= elements.count }

  mutating func next() throws -> StrictValueDecoder {
    guard !isAtEnd else { throw decoder.fail("the array has too few elements") }
    defer { currentIndex += 1 }
    return decoder.child(elements[currentIndex], StrictIndexKey(currentIndex))
  }

  mutating func decodeNil() throws -> Bool {
    guard !isAtEnd else { throw decoder.fail("the array has too few elements") }
    if case .null = elements[currentIndex] { currentIndex += 1; return true }
    return false
  }
  mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }
  mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
    try next().container(keyedBy: type)
  }
  mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try next().unkeyedContainer() }
  mutating func superDecoder() throws -> Decoder { try next() }
}

struct StrictSingleValue: SingleValueDecodingContainer {
  let decoder: StrictValueDecoder
  var codingPath: [CodingKey] { decoder.codingPath }
  func decodeNil() -> Bool { decoder.isNull }
  func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decode(type) }
}
