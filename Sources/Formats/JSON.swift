// A small strict JSON reader and string escaper for safetensors headers. Foundation's
// JSONSerialization silently keeps the last of two equal keys and turns integers into NSNumber
// (losing 64-bit precision), and the header checks need both exact, so the parser is our own.

/// A parsed JSON value. Objects keep their members in file order, duplicates included, so the
/// caller can report them.
enum JSONValue {
  case null
  case bool(Bool)
  /// An integer literal (no fraction or exponent) that fits in Int64.
  case integer(Int64)
  /// An integer literal too large for Int64, kept as text for the error message.
  case hugeInteger(String)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([(key: String, value: JSONValue)])

  var typeName: String {
    switch self {
    case .null: return "null"
    case .bool: return "a boolean"
    case .integer, .hugeInteger, .number: return "a number"
    case .string: return "a string"
    case .array: return "an array"
    case .object: return "an object"
    }
  }
}

struct JSONError: Error, CustomStringConvertible {
  let offset: Int
  let message: String
  var description: String { "\(message) at byte \(offset)" }
}

/// Recursive-descent parser over UTF-8 bytes with a nesting limit (so hostile input cannot
/// exhaust the stack).
struct JSONParser {
  private let bytes: [UInt8]
  private var position = 0
  private let maxDepth: Int

  /// Parses one JSON value filling the whole input (surrounding whitespace allowed).
  static func parse(_ bytes: [UInt8], maxDepth: Int = 32) throws -> JSONValue {
    var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
    parser.skipWhitespace()
    let value = try parser.parseValue(depth: 0)
    parser.skipWhitespace()
    guard parser.position == bytes.count else { throw parser.error("unexpected text after the JSON value") }
    return value
  }

  private init(bytes: [UInt8], maxDepth: Int) {
    self.bytes = bytes
    self.maxDepth = maxDepth
  }

  private func error(_ message: String) -> JSONError { JSONError(offset: position, message: message) }

  private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

  private mutating func skipWhitespace() {
    while let c = current, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { position += 1 }
  }

  private mutating func expect(_ literal: String) throws {
    for byte in literal.utf8 {
      guard current == byte else { throw error("invalid literal, expected '\(literal)'") }
      position += 1
    }
  }

  private mutating func parseValue(depth: Int) throws -> JSONValue {
    guard depth < maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
    guard let c = current else { throw error("unexpected end of input") }
    switch c {
    case UInt8(ascii: "{"): return try parseObject(depth: depth)
    case UInt8(ascii: "["): return try parseArray(depth: depth)
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"): try expect("true"); return .bool(true)
    case UInt8(ascii: "f"): try expect("false"); return .bool(false)
    case UInt8(ascii: "n"): try expect("null"); return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
    default: throw error("unexpected character '\(Unicode.Scalar(c))'")
    }
  }

  private mutating func parseObject(depth: Int) throws -> JSONValue {
    position += 1  // {
    var members: [(key: String, value: JSONValue)] = []
    skipWhitespace()
    if current == UInt8(ascii: "}") { position += 1; return .object(members) }
    while true {
      skipWhitespace()
      guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
      let key = try parseString()
      skipWhitespace()
      guard current == UInt8(ascii: ":") else { throw error("expected ':' after key \"\(key)\"") }
      position += 1
      skipWhitespace()
      members.append((key, try parseValue(depth: depth + 1)))
      skipWhitespace()
      switch current {
      case UInt8(ascii: ","): position += 1
      case UInt8(ascii: "}"): position += 1; return .object(members)
      default: throw error("expected ',' or '}' in object")
      }
    }
  }

  private mutating func parseArray(depth: Int) throws -> JSONValue {
    position += 1  // [
    var elements: [JSONValue] = []
    skipWhitespace()
    if current == UInt8(ascii: "]") { position += 1; return .array(elements) }
    while true {
      skipWhitespace()
      elements.append(try parseValue(depth: depth + 1))
      skipWhitespace()
      switch current {
      case UInt8(ascii: ","): position += 1
      case UInt8(ascii: "]"): position += 1; return .array(elements)
      default: throw error("expected ',' or ']' in array")
      }
    }
  }

  private mutating func parseString() throws -> String {
    position += 1  // opening quote
    var utf8: [UInt8] = []
    while true {
      guard let c = current else { throw error("unterminated string") }
      position += 1
      switch c {
      case UInt8(ascii: "\""):
        guard let string = String(validating: utf8, as: UTF8.self) else { throw error("string is not valid UTF-8") }
        return string
      case UInt8(ascii: "\\"):
        guard let escape = current else { throw error("unterminated escape") }
        position += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"): utf8.append(contentsOf: try parseUnicodeEscape())
        default: throw error("invalid escape '\\\(Unicode.Scalar(escape))'")
        }
      case 0x00..<0x20:
        throw error("control character in string")
      default:
        utf8.append(c)
      }
    }
  }

  /// After `\u`: four hex digits, combining a surrogate pair when one follows.
  private mutating func parseUnicodeEscape() throws -> [UInt8] {
    var scalarValue = try parseHex4()
    if (0xD800..<0xDC00).contains(scalarValue) {
      guard current == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") else {
        throw error("unpaired surrogate in \\u escape")
      }
      position += 2
      let low = try parseHex4()
      guard (0xDC00..<0xE000).contains(low) else { throw error("invalid low surrogate in \\u escape") }
      scalarValue = 0x10000 + ((scalarValue - 0xD800) << 10) + (low - 0xDC00)
    }
    guard let scalar = Unicode.Scalar(scalarValue) else { throw error("invalid \\u escape") }
    return Array(String(Character(scalar)).utf8)
  }

  private mutating func parseHex4() throws -> UInt32 {
    var value: UInt32 = 0
    for _ in 0..<4 {
      guard let c = current, let digit = hexDigitValue(c) else { throw error("invalid \\u escape") }
      value = value << 4 | UInt32(digit)
      position += 1
    }
    return value
  }

  private func hexDigitValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
  }

  private mutating func parseNumber() throws -> JSONValue {
    let start = position
    func digits() -> Int {
      let begin = position
      while let c = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { position += 1 }
      return position - begin
    }
    if current == UInt8(ascii: "-") { position += 1 }
    let integerDigitsStart = position
    guard digits() > 0 else { throw error("invalid number") }
    if bytes[integerDigitsStart] == UInt8(ascii: "0") && position - integerDigitsStart > 1 {
      throw error("leading zero in number")
    }
    var isInteger = true
    if current == UInt8(ascii: ".") {
      position += 1
      guard digits() > 0 else { throw error("invalid number") }
      isInteger = false
    }
    if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
      position += 1
      if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
      guard digits() > 0 else { throw error("invalid number") }
      isInteger = false
    }
    let text = String(decoding: bytes[start..<position], as: UTF8.self)
    if isInteger {
      if let value = Int64(text) { return .integer(value) }
      return .hugeInteger(text)
    }
    guard let value = Double(text) else { throw error("invalid number") }
    return .number(value)
  }
}

/// Writing JSON text by hand where the layout must be exact or stable (safetensors headers,
/// tokenizer files in id order), which `JSONEncoder` does not promise.
public enum JSONText {
  /// `s` as a JSON string literal (quotes included), escaping only what JSON requires; other
  /// characters are written as UTF-8.
  public static func quoted(_ s: String) -> String {
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
