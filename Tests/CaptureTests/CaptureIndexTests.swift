/// index.json text: fixed key order, escaping, reserved keys, an empty file list.
@testable import Capture
import Datapath
import Foundation
import Testing

@Suite struct CaptureIndexTests {
    @Test func escapesStringsPerRFC8259() {
        #expect(CaptureIndex.quote("plain") == "\"plain\"")
        #expect(CaptureIndex.quote("a\"b\\c") == "\"a\\\"b\\\\c\"")
        #expect(CaptureIndex.quote("tab\tnl\ncr\r\u{1}") == "\"tab\\tnl\\ncr\\r\\u0001\"")
        #expect(CaptureIndex.quote("pod-ü") == "\"pod-ü\"")
    }

    @Test func extraKeysAreSortedAndCannotReplaceReservedOnes() throws {
        let text = CaptureIndex.render(files: [], epochSeconds: 7,
                                       extra: ["zeta": "z", "alpha": "a", "complete": "no", "files": "x"])
        #expect(text == """
            {
              "complete": true,
              "alpha": "a",
              "zeta": "z",
              "epoch_seconds": 7,
              "files": []
            }

            """)
        #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) is [String: Any])
    }
}
