/// The character classes that GPT-2's pre-tokeniser pattern distinguishes, as small integers so
/// that the hot loop compares bytes, not enums.
///
/// `\p{L}` is general category L (Lu, Ll, Lt, Lm, Lo), `\p{N}` is N (Nd, Nl, No) and `\s` is the
/// Unicode White_Space property — the meanings they have in the regex engine tiktoken uses.
enum ScalarClass {
  static let letter: UInt8 = 0
  static let number: UInt8 = 1
  static let whitespace: UInt8 = 2
  static let other: UInt8 = 3

  /// The Unicode version of the character tables of the reference implementation (tiktoken 0.14's
  /// regex engine). Checked against tiktoken: U+10D4A (Unicode 16.0) is a letter, U+323B0 (17.0)
  /// is not.
  static let unicodeVersion = (major: 16, minor: 0)

  /// The class of any scalar, from the standard library's Unicode tables (slow: used to fill the
  /// table below and for scalars beyond the Basic Multilingual Plane).
  static func classify(_ scalar: Unicode.Scalar) -> UInt8 {
    let properties = scalar.properties
    if properties.isWhitespace { return whitespace }
    // Characters assigned after `unicodeVersion` are unassigned (category Cn, so "other") for the
    // reference regex engine; without this, e.g. the CJK Extension J ideographs of Unicode 17
    // would be letters here and split text differently from tiktoken.
    guard let age = properties.age,
          (age.major, age.minor) <= (unicodeVersion.major, unicodeVersion.minor) else { return other }
    switch properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
      return letter
    case .decimalNumber, .letterNumber, .otherNumber:
      return number
    default:
      return other
    }
  }

  /// The class of every scalar of the Basic Multilingual Plane (64 KiB, filled on first use and kept
  /// for the life of the process). Surrogate code points, which are not scalars, are `other`.
  static let basicPlaneTable: UnsafePointer<UInt8> = {
    let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 0x10000)
    for value in 0..<0x10000 {
      if let scalar = Unicode.Scalar(UInt32(value)) {
        table[value] = classify(scalar)
      } else {
        table[value] = other
      }
    }
    return UnsafePointer(table)
  }()
}

/// Reads scalars and their classes out of UTF-8 bytes. Invalid UTF-8 (which a Swift `String` never
/// holds, but raw bytes may) is read one byte at a time as class `other`, so scanning never fails.
struct ScalarReader {
  let base: UnsafePointer<UInt8>
  let count: Int
  let table: UnsafePointer<UInt8>

  init(_ bytes: UnsafeBufferPointer<UInt8>) {
    // An empty buffer may have no base address; any valid pointer will do since nothing is read.
    base = bytes.baseAddress ?? UnsafePointer(ScalarClass.basicPlaneTable)
    count = bytes.count
    table = ScalarClass.basicPlaneTable
  }

  /// The class of the scalar at byte `index` and its length in bytes.
  @inline(__always)
  func classAndLength(at index: Int) -> (UInt8, Int) {
    let lead = base[index]
    if lead < 0x80 { return (table[Int(lead)], 1) }
    return multibyteClassAndLength(at: index, lead: lead)
  }

  private func multibyteClassAndLength(at index: Int, lead: UInt8) -> (UInt8, Int) {
    @inline(__always) func continuation(_ offset: Int) -> UInt32? {
      guard index + offset < count else { return nil }
      let byte = base[index + offset]
      return byte & 0xc0 == 0x80 ? UInt32(byte & 0x3f) : nil
    }
    if lead & 0xe0 == 0xc0 {
      if let c1 = continuation(1) {
        let value = UInt32(lead & 0x1f) << 6 | c1
        if value >= 0x80 { return (table[Int(value)], 2) }
      }
    } else if lead & 0xf0 == 0xe0 {
      if let c1 = continuation(1), let c2 = continuation(2) {
        let value = UInt32(lead & 0x0f) << 12 | c1 << 6 | c2
        if value >= 0x800 && !(0xd800...0xdfff).contains(value) { return (table[Int(value)], 3) }
      }
    } else if lead & 0xf8 == 0xf0 {
      if let c1 = continuation(1), let c2 = continuation(2), let c3 = continuation(3) {
        let value = UInt32(lead & 0x07) << 18 | c1 << 12 | c2 << 6 | c3
        if value >= 0x10000, let scalar = Unicode.Scalar(value) {
          return (ScalarClass.classify(scalar), 4)
        }
      }
    }
    return (ScalarClass.other, 1)
  }

  /// The end of the run of scalars of class `wanted` that starts at `index`.
  @inline(__always)
  func endOfRun(from index: Int, of wanted: UInt8) -> Int {
    var position = index
    while position < count {
      let byte = base[position]
      if byte < 0x80 {
        if table[Int(byte)] != wanted { break }
        position += 1
      } else {
        let (found, length) = multibyteClassAndLength(at: position, lead: byte)
        if found != wanted { break }
        position += length
      }
    }
    return position
  }
}
