import Foundation
import TestSupport
import Testing
@testable import Tokenizers

/// Shared test data: the golden GPT-2 cases and the real GPT-2 ranks (fetched once by
/// `scripts/fetch-gpt2-ranks` if absent), each loaded once per test process.
enum Fixtures {
  /// The repository root: <root>/Tests/TokenizersTests/Fixtures.swift.
  static let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  struct GoldenCase: Decodable {
    var text: String
    var ids: [Int32]
  }

  struct GoldenFile: Decodable {
    var tiktoken_sha256: String
    var pretokenizer_regex: String
    var cases: [GoldenCase]
  }

  static let golden: Result<GoldenFile, Error> = Result {
    try JSONDecoder().decode(GoldenFile.self, from: Data(contentsOf: Golden.url("gpt2-tokenizer/cases.json")))
  }

  /// The path of the GPT-2 ranks, fetching them if needed.
  static let ranksURL: Result<URL, Error> = Result {
    let url = repositoryRoot.appendingPathComponent("data/gpt2/gpt2.tiktoken")
    if FileManager.default.fileExists(atPath: url.path) { return url }
    let script = repositoryRoot.appendingPathComponent("scripts/fetch-gpt2-ranks")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["bash", script.path, url.path]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let log = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: url.path) else {
      throw FixtureError(message: "the GPT-2 ranks are missing and \(script.path) could not fetch them "
        + "(exit \(process.terminationStatus)): \(String(decoding: log, as: UTF8.self))")
    }
    return url
  }

  static let gpt2: Result<BPETokenizer, Error> = Result {
    try BPETokenizer(model: TiktokenFormat.read(ranksURL.get()))
  }

  /// GPT-2 written as vocab.json + merges.txt + tokenizer.json into a temporary folder.
  static let gpt2Converted: Result<URL, Error> = Result {
    let folder = try temporaryDirectory("gpt2-converted")
    try TokenizerLoader.writeAllFormats(gpt2.get().model, to: folder)
    return folder
  }

  /// This process's folder for test files. Folders left by earlier runs (over an hour old) are
  /// removed, so repeated runs do not fill the disk with copies of GPT-2's tables.
  static let temporaryRoot: URL = {
    let fm = FileManager.default
    let prefix = "pgm-tokenizers-tests-"
    let base = fm.temporaryDirectory
    for name in (try? fm.contentsOfDirectory(atPath: base.path)) ?? [] where name.hasPrefix(prefix) {
      let url = base.appendingPathComponent(name)
      if let modified = try? fm.attributesOfItem(atPath: url.path)[.modificationDate] as? Date,
         modified.timeIntervalSinceNow < -3600 {
        try? fm.removeItem(at: url)
      }
    }
    return base.appendingPathComponent(prefix + "\(ProcessInfo.processInfo.processIdentifier)")
  }()

  /// A fresh empty folder under this process's folder for test files.
  static func temporaryDirectory(_ name: String) throws -> URL {
    let url = temporaryRoot.appendingPathComponent(name + "-" + UUID().uuidString.prefix(8))
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// A few KB of text of many kinds: prose, code, numbers, whitespace, scripts, emoji.
  static let mixedText: String = {
    var parts: [String] = []
    parts.append("""
      It was the best of times, it was the worst of times; it was the age of wisdom...
      "Don't panic!" — she said. We'll see; they've gone, you're late, I'd know, it's 3:45pm.
      """)
    parts.append("func encode(_ text: String) -> [Int32] {\n\treturn text.utf8.map { Int32($0) }\n}\n\n\n    indented\n")
    parts.append("Prices: $1,234.56 €99 ¥1000 ½ ¾ ² ³ 10⁶ 2024-01-01T00:00:00Z 0xDEADBEEF 1e-9")
    parts.append("Ünïcödé: Straße, façade, naïve, Ærøskøbing, İstanbul, ǅemal")
    parts.append("Русский текст, ελληνικά, עברית, العربية, हिन्दी, ไทย, 한국어, 中文字符, 日本語のかな")
    parts.append("Emoji: 😀😃😄 👩‍👩‍👧‍👦 🇫🇷 🏳️‍🌈 ✌🏿 and symbols ∑∫√∞ ≤≥ ←→ ♠♣♥♦ ™©®")
    parts.append("Spaces:\u{00A0}nbsp\u{2003}em\u{3000}ideographic\u{2028}line\u{2029}para \u{0085}nel \u{000B}vt \u{000C}ff")
    parts.append("Controls: \u{0001}\u{0002}\u{001B}[31mred\u{001B}[0m \u{007F} zero\u{200B}width \u{FEFF}bom")
    parts.append("Combining: e\u{0301} a\u{0308} n\u{0303} Z\u{0351}\u{0325}\u{0347}algo \u{0915}\u{094D}\u{0937}")
    parts.append("   \n\n  \t \r\n trailing spaces   \n   ")
    parts.append(String(repeating: "abcdefghij", count: 20) + " " + String(repeating: "!?", count: 40))
    var text = parts.joined(separator: "\n")
    while text.utf8.count < 4000 { text += "\n" + parts.joined(separator: " | ") }
    return text
  }()
}

struct FixtureError: Error, CustomStringConvertible {
  var message: String
  var description: String { message }
}
