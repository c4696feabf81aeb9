import Testing
@testable import Tokenizers

@Suite struct SHA256Tests {
  @Test func knownVectors() {
    #expect(SHA256Hasher.hex(of: [UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(SHA256Hasher.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(SHA256Hasher.hex(of: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
      == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
  }

  @Test func feedingInPiecesGivesTheSameDigest() {
    let message = (0..<1000).map { UInt8($0 % 251) }
    var hasher = SHA256Hasher()
    for chunk in stride(from: 0, to: message.count, by: 37) {
      hasher.update(message[chunk..<min(chunk + 37, message.count)])
    }
    #expect(hasher.finalizeHex() == SHA256Hasher.hex(of: message))
  }
}
