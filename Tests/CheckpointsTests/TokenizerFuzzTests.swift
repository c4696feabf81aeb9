import TestSupport
import Foundation
import Testing
import Tokenizers

/// Tokenizer files are inputs from outside like checkpoints are: a damaged `tokenizer.json`,
/// `vocab.json`, `merges.txt` or `.tiktoken` must end in a thrown error or in a tokenizer that
/// still round-trips text, never in a crash. Each case mutates one file of a small BPE trained
/// here (fixed seed, so every run checks the same cases).
@Suite struct TokenizerFuzzTests {
  static let corpus = [
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away again and again.",
    "Partition generative models predict one group of tokens from the other, without mask tokens.",
    "Naïve café owners serve crème brûlée — 日本語のテキストも少し。 Ümlaute, emoji 🦊🐶 and tabs\there.",
    "numbers 0123456789 and symbols !@#$%^&*()_+-=[]{}|;':\",./<>? repeated: the the the and and and",
  ]
  static let probes = ["the quick brown fox", "Naïve café 🦊 日本語", "  leading spaces\n\tand tabs ", "<|endoftext|> and 42!", ""]
  static let casesPerFile = 1_000

  /// The mutations: bit flips, bytes that matter to the formats, deleted, duplicated and
  /// inserted runs, truncation, and swapped lines (which keep the file's shape plausible).
  static func mutate(_ input: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
    var bytes = input
    let interesting: [UInt8] = Array("\"\\{}[],: \n0193-=+/ABab".utf8) + [0x00, 0x7F, 0xC3, 0xE2, 0xF0, 0xFF]
    for _ in 0..<Int.random(in: 1...3, using: &rng) where !bytes.isEmpty {
      let at = Int.random(in: 0..<bytes.count, using: &rng)
      switch Int.random(in: 0..<8, using: &rng) {
      case 0: bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
      case 1: bytes[at] = interesting.randomElement(using: &rng)!
      case 2: bytes[at] = UInt8.random(in: 0...255, using: &rng)
      case 3: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...16, using: &rng)))
      case 4:
        let run = bytes[at..<min(bytes.count, at + Int.random(in: 1...32, using: &rng))]
        bytes.insert(contentsOf: run, at: Int.random(in: 0...bytes.count, using: &rng))
      case 5: bytes.removeSubrange(at...)
      case 6: bytes.insert(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in interesting.randomElement(using: &rng)! }, at: at)
      default:
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.count > 2 {
          lines.swapAt(Int.random(in: 0..<lines.count, using: &rng), Int.random(in: 0..<lines.count, using: &rng))
          bytes = Array(lines.joined(separator: [UInt8(ascii: "\n")]))
        }
      }
    }
    return bytes
  }

  @Test func damagedTokenizerFilesThrowOrStillRoundTrip() throws {
    let scratch = try Scratch("tokenizer-fuzz")
    defer { scratch.remove() }
    let model = try BPETrainer.train(texts: Self.corpus, vocabularySize: 320, minimumPairCount: 1).model
    let pristine = scratch.url.appendingPathComponent("pristine")
    try FileManager.default.createDirectory(at: pristine, withIntermediateDirectories: true)
    try TokenizerLoader.writeAllFormats(model, to: pristine)
    try TiktokenFormat.write(model, to: pristine.appendingPathComponent("ranks.tiktoken"))

    // (file to damage, what to load): vocab.json and merges.txt are read as a pair from a folder.
    let targets: [(file: String, load: String)] = [("tokenizer.json", "tokenizer.json"), ("vocab.json", "."),
                                                   ("merges.txt", "."), ("ranks.tiktoken", "ranks.tiktoken")]
    var rng = SeededGenerator(seed: 2_505_188_83)
    for target in targets {
      let work = scratch.url.appendingPathComponent("work-" + target.file)
      try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
      for name in ["vocab.json", "merges.txt"] where target.load == "." {
        try FileManager.default.copyItem(at: pristine.appendingPathComponent(name), to: work.appendingPathComponent(name))
      }
      // Undamaged, the file loads and round-trips: the cases below start from a working tokenizer.
      let original = try [UInt8](Data(contentsOf: pristine.appendingPathComponent(target.file)))
      try Data(original).write(to: work.appendingPathComponent(target.file))
      let intact = try TokenizerLoader.load(work.appendingPathComponent(target.load))
      #expect(intact.identity == BPETokenizer(model: model).identity)

      var rejected = 0, loaded = 0
      for _ in 0..<Self.casesPerFile {
        let damaged = Self.mutate(original, &rng)
        try Data(damaged).write(to: work.appendingPathComponent(target.file))
        let tokenizer: any Tokenizer
        do { tokenizer = try TokenizerLoader.load(work.appendingPathComponent(target.load)) } catch {
          rejected += 1
          #expect(!String(describing: error).isEmpty)
          continue
        }
        loaded += 1
        for text in Self.probes {
          let ids = try tokenizer.encode(text)
          #expect(ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize })
          #expect(tokenizer.decode(ids) == text, "\(target.file): a damaged file loaded but does not round-trip \(text.debugDescription)")
        }
      }
      // Both outcomes occur, so the mutations reach past the parsers' first checks.
      #expect(rejected > 0 && loaded > 0, "\(target.file): \(rejected) rejected, \(loaded) loaded")
    }
  }
}
