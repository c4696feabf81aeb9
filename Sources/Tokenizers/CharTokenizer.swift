import Formats
import Foundation

/// A character tokenizer: one id per Unicode scalar of its vocabulary (sorted by scalar value), then
/// `<|endoftext|>`.
///
/// A scalar outside the vocabulary is an error (`TokenizerError.unknownCharacter`), not an `<unk>`
/// token: the vocabulary is built from the corpus it encodes, so an unknown character means the
/// wrong tokenizer or corpus, and silently replacing it would break decode(encode(s)) == s.
public struct CharTokenizer: Tokenizer {
  /// The scalars, in id order.
  public let scalars: [Unicode.Scalar]
  /// The id of `<|endoftext|>`: right after the scalars.
  public var endOfText: Int32 { Int32(scalars.count) }

  private let idByScalar: [UInt32: Int32]
  /// Ids of ASCII scalars (-1 when absent), the common case, without hashing.
  private let asciiIds: [Int32]
  private let digest: String

  /// A tokenizer for exactly these scalars (duplicates are dropped; the order becomes scalar order).
  public init<Scalars: Sequence>(scalars: Scalars) where Scalars.Element == Unicode.Scalar {
    let sorted = Set(scalars).sorted { $0.value < $1.value }
    self.scalars = sorted
    var idByScalar: [UInt32: Int32] = [:]
    var asciiIds = [Int32](repeating: -1, count: 128)
    var hasher = SHA256Hasher()
    hasher.update(Array("char v1".utf8))
    for (id, scalar) in sorted.enumerated() {
      idByScalar[scalar.value] = Int32(id)
      if scalar.value < 128 { asciiIds[Int(scalar.value)] = Int32(id) }
      hasher.update(littleEndian: scalar.value)
    }
    hasher.update(Array(TokenizerConstants.endOfText.utf8))
    self.idByScalar = idByScalar
    self.asciiIds = asciiIds
    self.digest = hasher.finalizeHex()
  }

  /// A tokenizer for the distinct scalars of some texts.
  public init<Texts: Sequence>(corpus texts: Texts) where Texts.Element == String {
    var seen = Set<Unicode.Scalar>()
    for text in texts { seen.formUnion(text.unicodeScalars) }
    self.init(scalars: seen)
  }

  /// A tokenizer for the distinct scalars of some UTF-8 files.
  public static func train(files: [URL]) throws -> CharTokenizer {
    var seen = Set<Unicode.Scalar>()
    for file in files {
      let bytes = try FileIO.readBytes(file)
      guard let text = String(bytes: bytes, encoding: .utf8) else {
        throw TokenizerError.malformedFile(path: file.path, reason: "not UTF-8 text")
      }
      seen.formUnion(text.unicodeScalars)
    }
    return CharTokenizer(scalars: seen)
  }

  public var kind: String { "char" }
  public var vocabularySize: Int { scalars.count + 1 }
  public var bos: Int32? { endOfText }
  public var eos: Int32? { endOfText }
  public var identity: TokenizerIdentity {
    TokenizerIdentity(kind: kind, vocabularySize: vocabularySize, sha256: digest)
  }

  /// The id of each scalar; throws `TokenizerError.unknownCharacter` for the first unknown one.
  public func encode(_ text: String) throws -> [Int32] {
    var output: [Int32] = []
    output.reserveCapacity(text.utf8.count)
    var offset = 0
    for scalar in text.unicodeScalars {
      let id = scalar.value < 128 ? asciiIds[Int(scalar.value)] : (idByScalar[scalar.value] ?? -1)
      guard id >= 0 else { throw TokenizerError.unknownCharacter(scalar: scalar, utf8Offset: offset) }
      output.append(id)
      offset += UTF8.width(scalar)
    }
    return output
  }

  /// The text of some ids: `<|endoftext|>` decodes to its text, the mask id to
  /// `TokenizerConstants.maskText`, any other id outside the vocabulary to U+FFFD.
  public func decode(_ ids: [Int32]) -> String {
    var output = String.UnicodeScalarView()
    for id in ids {
      if id >= 0 && Int(id) < scalars.count {
        output.append(scalars[Int(id)])
      } else if id == endOfText {
        output.append(contentsOf: TokenizerConstants.endOfText.unicodeScalars)
      } else if id == maskId {
        output.append(contentsOf: TokenizerConstants.maskText.unicodeScalars)
      } else {
        output.append("\u{FFFD}")
      }
    }
    return String(output)
  }

  // MARK: File

  /// The file name `pgm tokenizer train --kind char` writes.
  public static let fileName = "char-tokenizer.json"

  /// The JSON file: `{"kind": "char", "version": 1, "scalars": [...], "end_of_text": N}` where the
  /// scalars are written as their code points (so that controls and combining marks stay exact).
  struct File: Codable {
    var kind: String
    var version: Int
    var scalars: [UInt32]
    var end_of_text: Int
  }

  /// Writes the tokenizer as JSON.
  public func write(to url: URL) throws {
    var text = "{\n  \"kind\": \"char\",\n  \"version\": 1,\n  \"end_of_text\": \(scalars.count),\n"
    text += "  \"characters\": " + JSONText.quoted(String(String.UnicodeScalarView(scalars))) + ",\n"
    text += "  \"scalars\": [" + scalars.map { String($0.value) }.joined(separator: ", ") + "]\n}\n"
    try FileIO.write(text, to: url)
  }

  /// Reads a tokenizer written by `write(to:)`.
  public static func read(_ url: URL) throws -> CharTokenizer {
    let file = try FileIO.decodeJSON(File.self, from: url)
    guard file.kind == "char" else {
      throw TokenizerError.malformedFile(path: url.path, reason: "kind is \(JSONText.quoted(file.kind)), expected \"char\"")
    }
    var scalars: [Unicode.Scalar] = []
    for value in file.scalars {
      guard let scalar = Unicode.Scalar(value) else {
        throw TokenizerError.malformedFile(path: url.path, reason: "\(value) is not a Unicode scalar")
      }
      scalars.append(scalar)
    }
    let tokenizer = CharTokenizer(scalars: scalars)
    guard tokenizer.scalars == scalars, file.end_of_text == scalars.count else {
      throw TokenizerError.malformedFile(path: url.path, reason: "scalars must be distinct and sorted, with end_of_text = their count")
    }
    return tokenizer
  }
}
