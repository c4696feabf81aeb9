import Foundation
import Testing
import TestSupport
@testable import Formats
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Mutated golden files: every case must end in a thrown error or a successful load (and read),
/// never a crash, a hang or a huge allocation. Seeds are fixed so failures reproduce.
@Suite struct FuzzTests {
  /// Applies one random mutation inside `region` (clamped to the input).
  static func mutate(_ input: [UInt8], in region: Range<Int>, using rng: inout SeededGenerator) -> [UInt8] {
    var bytes = input
    let region = region.clamped(to: 0..<bytes.count)
    guard !region.isEmpty else { return bytes }
    func position() -> Int { Int.random(in: region, using: &rng) }
    switch Int.random(in: 0..<6, using: &rng) {
    case 0:  // flip bits
      for _ in 0..<Int.random(in: 1...4, using: &rng) { bytes[position()] ^= 1 << UInt8.random(in: 0...7, using: &rng) }
    case 1:  // overwrite bytes with random or boundary values
      let specials: [UInt8] = [0x00, 0xFF, 0x7F, 0x80, 0x01]
      for _ in 0..<Int.random(in: 1...4, using: &rng) {
        bytes[position()] = Bool.random(using: &rng) ? specials.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
      }
    case 2:  // truncate
      bytes.removeSubrange(position()...)
    case 3:  // insert random bytes
      let insert = (0..<Int.random(in: 1...16, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
      bytes.insert(contentsOf: insert, at: position())
    case 4:  // delete a span
      let start = position()
      bytes.removeSubrange(start ..< min(bytes.count, start + Int.random(in: 1...16, using: &rng)))
    default:  // copy a span over another place in the region
      let from = position(), to = position()
      let count = min(Int.random(in: 1...64, using: &rng), bytes.count - from, bytes.count - to)
      bytes.replaceSubrange(to ..< to + count, with: bytes[from ..< from + count])
    }
    return bytes
  }

  /// Peak resident memory of this process in bytes.
  static func peakMemory() -> Int {
    var usage = rusage()
    #if os(Linux)
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return usage.ru_maxrss * 1024  // kilobytes on Linux
    #else
    getrusage(RUSAGE_SELF, &usage)
    return usage.ru_maxrss  // bytes on Darwin
    #endif
  }

  /// Outcome counts and the slowest case, for the assertions and the log.
  struct Tally {
    var loaded = 0
    var rejected = 0
    var slowest: TimeInterval = 0
    mutating func time(_ body: () -> Bool) {
      let start = Date()
      if body() { loaded += 1 } else { rejected += 1 }
      slowest = max(slowest, Date().timeIntervalSince(start))
    }
  }

  @Test func mutatedCheckpointContainers() throws {
    let original = [UInt8](try Data(contentsOf: try Golden.url("mdlm-tiny/lightning.ckpt")))
    var rng = SeededGenerator(seed: 0xC0FFEE)
    let memoryBefore = Self.peakMemory()
    // Where the zip structure lives: the directory at the end and the first local headers.
    let directoryStart = original.count - 20_000
    let reference = try TorchCheckpoint(bytes: original, name: "original.ckpt")
    var tally = Tally()
    var corruptTensors = 0
    let start = Date()
    for i in 0..<800 {
      let region: Range<Int> = switch i % 4 {
      case 0, 1: directoryStart ..< original.count
      case 2: 0 ..< 30_000
      default: 0 ..< original.count
      }
      let mutated = Self.mutate(original, in: region, using: &rng)
      tally.time {
        guard let checkpoint = try? TorchCheckpoint(bytes: mutated, name: "fuzz.ckpt") else { return false }
        for ref in allTensors(in: checkpoint.root) {
          let loaded: TensorData
          do {
            loaded = try checkpoint.read(ref)
          } catch let error as TorchCheckpointError {
            if case .checksumMismatch = error.problem { corruptTensors += 1 }
            continue
          } catch {
            Issue.record("case \(i): \(error) is not a TorchCheckpointError")
            continue
          }
          // A tensor that loads holds what torch wrote: damaged bytes fail their entry's CRC-32.
          if let expected = try? reference.read(ref), loaded != expected {
            Issue.record("case \(i): \(ref) loaded with values other than the original's")
          }
        }
        return true
      }
    }
    print("checkpoint container fuzz: \(tally.loaded) loaded, \(tally.rejected) rejected, \(corruptTensors) tensor reads "
      + "refused as corrupt in \(Date().timeIntervalSince(start)) s, slowest \(tally.slowest) s")
    #expect(tally.rejected > 0 && tally.loaded > 0)
    #expect(corruptTensors > 0)  // mutations of tensor bytes are caught, not loaded as other weights
    #expect(tally.slowest < 2)
    #expect(Self.peakMemory() - memoryBefore < 512 << 20)
  }

  @Test func mutatedCheckpointPickles() throws {
    let url = try Golden.url("pgm-tiny/lightning.ckpt")
    let checkpoint = try TorchCheckpoint(url: url)
    let archive = try ZipArchive(source: try FileByteSource(url: url))
    let pickle = try archive.readAll(try #require(archive.entry("lightning/data.pkl")))
    var rng = SeededGenerator(seed: 0x5EED)
    let memoryBefore = Self.peakMemory()
    var tally = Tally()
    var tensorsRead = 0
    let start = Date()
    for _ in 0..<1000 {
      let mutated = Self.mutate(pickle, in: 0 ..< pickle.count, using: &rng)
      tally.time {
        // Decode the mutated program, then read whatever tensors it names from the real archive.
        guard let root = try? Unpickler.decode(mutated) else { return false }
        for ref in allTensors(in: root) where (try? checkpoint.read(ref)) != nil { tensorsRead += 1 }
        return true
      }
    }
    print("pickle fuzz: \(tally.loaded) decoded, \(tally.rejected) rejected, \(tensorsRead) tensors read in \(Date().timeIntervalSince(start)) s, slowest \(tally.slowest) s")
    #expect(tally.rejected > 0 && tally.loaded > 0 && tensorsRead > 0)
    #expect(tally.slowest < 2)
    #expect(Self.peakMemory() - memoryBefore < 512 << 20)
  }

  @Test func mutatedSafeTensors() throws {
    let original = [UInt8](try Data(contentsOf: try Golden.url("mdlm-tiny/cases.safetensors")))
    let headerEnd = 8 + Int(original.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    // Positions of digits and dtype names in the header, for targeted edits.
    let digits = (8 ..< headerEnd).filter { (0x30...0x39).contains(original[$0]) }
    let dtypes: [[UInt8]] = ["F32", "I64", "F16", "BF16", "U8", "BOOL", "F64", "I32", "XX", ""].map { Array($0.utf8) }
    var rng = SeededGenerator(seed: 0x5AFE)
    let memoryBefore = Self.peakMemory()
    var tally = Tally()
    let start = Date()
    for i in 0..<2500 {
      var mutated: [UInt8]
      switch i % 5 {
      case 0:  // change a digit of a shape or offset
        mutated = original
        mutated[digits.randomElement(using: &rng)!] = UInt8.random(in: 0x30...0x39, using: &rng)
      case 1:  // swap a dtype name for another (or garbage), keeping the header length field
        let text = Array(original[8 ..< headerEnd])
        let marker = Array("\"dtype\":\"".utf8)
        let starts = (0 ..< text.count - marker.count).filter { Array(text[$0 ..< $0 + marker.count]) == marker }
        let at = starts.randomElement(using: &rng)! + marker.count
        let end = text[at...].firstIndex(of: 0x22)!
        var header = text
        header.replaceSubrange(at ..< end, with: dtypes.randomElement(using: &rng)!)
        mutated = original
        mutated.replaceSubrange(8 ..< headerEnd, with: header)
      case 2:  // the length prefix
        mutated = Self.mutate(original, in: 0 ..< 8, using: &rng)
      default:  // anywhere in the header, or a truncation anywhere
        mutated = Self.mutate(original, in: i % 5 == 3 ? 8 ..< headerEnd : 0 ..< original.count, using: &rng)
      }
      tally.time {
        guard let file = try? SafeTensorsFile(bytes: mutated, name: "fuzz.safetensors") else { return false }
        for name in file.names { _ = try? file.read(name).bytes.count }
        return true
      }
    }
    print("safetensors fuzz: \(tally.loaded) loaded, \(tally.rejected) rejected in \(Date().timeIntervalSince(start)) s, slowest \(tally.slowest) s")
    #expect(tally.rejected > 0 && tally.loaded > 0)
    #expect(tally.slowest < 2)
    #expect(Self.peakMemory() - memoryBefore < 512 << 20)
  }
}
