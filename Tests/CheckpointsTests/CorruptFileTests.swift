import Foundation
import Testing
import TestSupport
@testable import Checkpoints
import Formats
import Networks

/// Files damaged on disk after they were written are refused with an error naming the file, never
/// loaded as other weights: Lightning imports by the ZIP entries' CRC-32, model folders by the
/// checksum their writers record.
@Suite struct CorruptFileTests {
  /// Flips one bit in the middle of the first occurrence of `needle` in the file.
  static func damage(_ url: URL, where needle: [UInt8]) throws {
    var bytes = [UInt8](try Data(contentsOf: url))
    let at = try #require((0...(bytes.count - needle.count)).first { bytes[$0] == needle[0] && bytes[$0 ..< $0 + needle.count].elementsEqual(needle) })
    bytes[at + needle.count / 2] ^= 0x04
    try Data(bytes).write(to: url)
  }

  @Test func aLightningCheckpointWithAFlippedTensorByteIsNotImported() throws {
    let scratch = try Scratch("corrupt-ckpt")
    defer { scratch.remove() }
    let damaged = scratch.file("lightning.ckpt")
    try FileManager.default.copyItem(at: Golden.url("pgm-tiny/lightning.ckpt"), to: damaged)
    let golden = try TorchCheckpoint(url: damaged)
    let ref = try #require(golden["state_dict"]?["backbone.vocab_embed.embedding"]?.tensorValue)
    try Self.damage(damaged, where: golden.read(ref).bytes)

    let out = scratch.url.appendingPathComponent("model")
    #expect {
      _ = try ModelImport.run(source: damaged, to: out, options: GoldenImportTests.options("pgm-tiny", .raw))
    } throws: { error in
      let text = String(describing: error)
      return text.hasPrefix(damaged.path + ": the checkpoint is corrupt") && text.contains("entry lightning/data/\(ref.storageKey) ")
    }
    #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent(ModelFolder.weightsFile).path))
  }

  func tinyNetwork() throws -> Network {
    try Network(ModelConfig(kind: .mdlm, vocabSize: 11, hiddenSize: 8, heads: 2, condDim: 4, length: 6, blocks: 1), seed: 4)
  }

  @Test func aModelFolderWithAFlippedWeightByteIsNotLoaded() throws {
    let scratch = try Scratch("corrupt-folder")
    defer { scratch.remove() }
    let network = try tinyNetwork()
    try ModelFolder.save(network, to: scratch.url)
    let weights = scratch.file(ModelFolder.weightsFile)
    #expect(try SafeTensorsFile(url: weights).verifyChecksum())
    _ = try ModelFolder.load(scratch.url)  // intact: loads

    let last = network.parameters.tensors.last!.toArray()
    try Self.damage(weights, where: try TensorData(floats: last, shape: [last.count]).bytes)
    #expect {
      _ = try ModelFolder.load(scratch.url)
    } throws: { error in
      let text = String(describing: error)
      return text.hasPrefix(weights.path + " is corrupt: checksum mismatch")
        && text.hasSuffix("rerun the phase that wrote it, or restore the file")
    }
  }

  /// Weights written elsewhere (here: PyTorch's golden file) carry no checksum and still load.
  @Test func weightsWithoutAChecksumStillLoad() throws {
    let scratch = try Scratch("plain-folder")
    defer { scratch.remove() }
    try FileManager.default.copyItem(at: Golden.url("mdlm-tiny/weights.safetensors"), to: scratch.file(ModelFolder.weightsFile))
    try FileManager.default.copyItem(at: Golden.url("mdlm-tiny/config.json"), to: scratch.file(ModelFolder.configFile))
    #expect(try SafeTensorsFile(url: scratch.file(ModelFolder.weightsFile)).verifyChecksum() == false)
    _ = try ModelFolder.load(scratch.url)
  }

  /// Both streaming writers (import and export) record the checksum too.
  @Test func importedAndExportedWeightsCarryAChecksum() throws {
    let scratch = try Scratch("checksum-io")
    defer { scratch.remove() }
    let imported = scratch.url.appendingPathComponent("imported")
    _ = try ModelImport.run(source: Golden.url("mdlm-tiny/lightning.ckpt"), to: imported, options: GoldenImportTests.options("mdlm-tiny", nil))
    #expect(try SafeTensorsFile(url: imported.appendingPathComponent(ModelFolder.weightsFile)).verifyChecksum())
    let exported = scratch.url.appendingPathComponent("exported")
    _ = try ModelExport.write(modelFolder: imported, to: exported)
    #expect(try SafeTensorsFile(url: exported.appendingPathComponent(ModelFolder.weightsFile)).verifyChecksum())
  }
}
