/// The SVG charts: valid XML (parsed with Foundation's XMLParser), the expected bars, markers,
/// lines and labels, escaped text, fixed number formatting and byte-identical output.

import Engine
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import PodwireKit

/// Every element of an XML document, in order, with its attributes and its own text.
final class XMLElements: NSObject, XMLParserDelegate {
    struct Element {
        var name: String
        var attributes: [String: String]
        var text = ""
    }
    private(set) var elements: [Element] = []
    private var open: [Int] = []
    private(set) var error: String?

    /// nil (and `error` set) when `text` is not well-formed XML.
    static func parse(_ text: String) -> XMLElements? {
        let p = XMLParser(data: Data(text.utf8))
        let d = XMLElements()
        p.delegate = d
        guard p.parse() else {
            d.error = p.parserError.map { "\($0)" } ?? "unknown error"
            Issue.record("not well-formed XML: \(d.error!)")
            return nil
        }
        return d
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements.append(Element(name: name, attributes: attributes))
        open.append(elements.count - 1)
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        open.removeLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if let i = open.last { elements[i].text += string }
    }

    func all(_ name: String, class cls: String? = nil) -> [Element] {
        elements.filter { $0.name == name && (cls == nil || $0.attributes["class"] == cls) }
    }

    /// The text of `<tspan>`s and `<text>`s, concatenated per element.
    var texts: [String] { elements.filter { $0.name == "text" || $0.name == "tspan" || $0.name == "title" }.map(\.text) }
}

@Suite struct ThroughputSVGTests {
    static func row(_ profile: String, _ cni: String, _ via: String, _ length: Int, goodput: Double,
                    published: Double? = nil, source: String? = nil) -> ThroughputRow {
        ThroughputRow(profile: profile, cni: cni, via: via, length: length, offeredBps: 950e6, sentBps: 950e6, goodputBps: goodput * 1e6,
                      lostPercent: 1.25, sent: 1000, received: 990, drops: [], publishedMbps: published, publishedSource: source)
    }

    static let rows: [ThroughputRow] = [
        row("raspberry-pi-4b", "flannel-vxlan", "pod", 1400, goodput: 905.2, published: 909, source: "pi-profiles.md §2"),
        row("raspberry-pi-4b", "flannel-vxlan", "pod", 64, goodput: 61.3),
        row("raspberry-pi-4b", "flannel-host-gw", "pod", 1400, goodput: 940.7, published: 941.5),
        row("raspberry-pi-4b", "flannel-host-gw", "pod", 64, goodput: 70),
        row("raspberry-pi-3b-plus", "flannel-vxlan", "service", 1400, goodput: 289.9, published: 224, source: "Jeff Geerling"),
    ]

    @Test func barsMarkersAndLabels() throws {
        let svg = ThroughputChart.svg(rows: Self.rows, title: "bench throughput")
        // PODWIRE_SVG_SAMPLES=DIR keeps the chart, to look at.
        if let dir = ProcessInfo.processInfo.environment["PODWIRE_SVG_SAMPLES"] {
            try svg.write(toFile: dir + "/bench-throughput.svg", atomically: true, encoding: .utf8)
        }
        let x = try #require(XMLElements.parse(svg))
        #expect(x.elements.first?.name == "svg")
        #expect(x.all("rect", class: "bar").count == 5)
        #expect(x.all("line", class: "published").count == 3)
        #expect(x.all("text", class: "value").map(\.text) == ["61", "905", "70", "941", "290"])
        // A section per profile; in it a group per (CNI, path), labelled on two lines.
        #expect(x.all("text", class: "profile-label").map(\.text) == ["raspberry-pi-4b", "raspberry-pi-3b-plus"])
        #expect(x.all("text", class: "group-label").count == 3)
        #expect(x.all("tspan").map(\.text) == ["flannel-vxlan", "pod", "flannel-host-gw", "pod", "flannel-vxlan", "service"])
        #expect(x.all("line", class: "separator").count == 1)
        // Legend: the lengths, ascending, then the published marker.
        #expect(x.all("g", class: "legend-entry").count == 3)
        #expect(x.texts.contains("64 B payload") && x.texts.contains("1400 B payload") && x.texts.contains("published figure"))
        // Each bar's tooltip has its full label; the markers name their source.
        #expect(x.texts.contains("raspberry-pi-4b · flannel-vxlan · pod · 1400 B: goodput 905.2 Mbit/s of 950 offered, lost 1.25%; published 909 Mbit/s (pi-profiles.md §2)"))
        #expect(x.texts.contains("published: 224 Mbit/s (Jeff Geerling)"))
        #expect(x.texts.contains("bench throughput"))
    }

    @Test func barHeightsFollowTheAxis() throws {
        let x = try #require(XMLElements.parse(ThroughputChart.svg(rows: Self.rows, title: "t")))
        // Maximum 941.5 → ticks of 200 up to 1000; plot 300 px high from y = 78.
        #expect(x.all("text", class: "tick-label").map(\.text) == ["0", "200", "400", "600", "800", "1000"])
        let bars = x.all("rect", class: "bar")
        let heights = bars.compactMap { $0.attributes["height"].flatMap(Double.init) }
        #expect(heights == [18.39, 271.56, 21, 282.21, 86.97])
        for b in bars {
            let y = Double(b.attributes["y"]!)!, h = Double(b.attributes["height"]!)!
            #expect(abs(y + h - 378) < 0.011)
        }
        let marker = x.all("line", class: "published")[0]
        #expect(marker.attributes["y1"] == "105.3" && marker.attributes["y1"] == marker.attributes["y2"])
    }

    @Test func textIsEscaped() throws {
        let rows = [Self.row("a&b <pi>", "\"cni\"", "pod's", 100, goodput: 1.5, published: 2, source: "x < y & z")]
        let svg = ThroughputChart.svg(rows: rows, title: "<script>alert('x')</script> & more")
        #expect(!svg.contains("<script>") && svg.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"))
        let x = try #require(XMLElements.parse(svg))
        #expect(x.all("text", class: "profile-label").map(\.text) == ["a&b <pi>"])
        #expect(x.all("tspan").map(\.text) == ["\"cni\"", "pod's"])
        #expect(x.texts.contains("published: 2 Mbit/s (x < y & z)"))
        #expect(x.all("text", class: "value").map(\.text) == ["1.5"])
    }

    @Test func sameRowsSameBytes() {
        let a = ThroughputChart.svg(rows: Self.rows, title: "t")
        let b = ThroughputChart.svg(rows: Self.rows, title: "t")
        #expect(a == b)
        #expect(a.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\""))
        #expect(a.hasSuffix("</svg>\n"))
    }

    @Test func noRowsIsStillAChart() throws {
        let x = try #require(XMLElements.parse(ThroughputChart.svg(rows: [], title: "empty")))
        #expect(x.all("rect", class: "bar").isEmpty)
        #expect(x.texts.contains("no rows"))
    }

    // MARK: Flow chart

    @Test func aLinePerFlow() throws {
        let series = [ThroughputSeries(label: "flow 1: iperf3 -u pod/client → pod/web-0:5201", mbps: [0, 100, 100, 50]),
                      ThroughputSeries(label: "flow 3: udp <&>", mbps: [1, 0, 0, 0])]
        let svg = FlowThroughputChart.svg(series: series, bin: .milliseconds(250), duration: .seconds(1), title: "flows")
        let x = try #require(XMLElements.parse(svg))
        let lines = x.all("polyline", class: "flow")
        #expect(lines.count == 2)
        // A step per bin: two points each; 100 Mbit/s is half-way up an axis to 100... ticks 0-100 by 20.
        let points = lines[0].attributes["points"]!.split(separator: " ")
        #expect(points.count == 8)
        #expect(points.prefix(4) == ["76,344", "246,344", "246,44", "416,44"])
        #expect(x.all("g", class: "legend-entry").count == 2)
        #expect(x.texts.contains("flow 1: iperf3 -u pod/client → pod/web-0:5201") && x.texts.contains("flow 3: udp <&>"))
        #expect(x.all("text", class: "tick-label").map(\.text) == ["0", "20", "40", "60", "80", "100",
                                                                    "0", "0.2", "0.4", "0.6", "0.8", "1"])
        #expect(x.texts.contains("goodput (Mbit/s, bins of 250ms)"))
    }

    @Test func aPartialLastBinEndsAtTheRunsEnd() throws {
        let svg = FlowThroughputChart.svg(series: [ThroughputSeries(label: "f", mbps: [10, 10, 10])], bin: .milliseconds(400),
                                          duration: .seconds(1), title: "t")
        let x = try #require(XMLElements.parse(svg))
        let points = x.all("polyline")[0].attributes["points"]!.split(separator: " ")
        #expect(points.last == "756,44")
    }

    // MARK: Numbers

    @Test func numbersAreWrittenOneWay() {
        #expect(SVG.number(12.5) == "12.5")
        #expect(SVG.number(3) == "3")
        #expect(SVG.number(-0.25) == "-0.25")
        #expect(SVG.number(-0.001) == "0")
        #expect(SVG.number(0.105, decimals: 2) == "0.11" || SVG.number(0.105, decimals: 2) == "0.1")
        #expect(SVG.number(1234.5678, decimals: 0) == "1235")
        #expect(SVG.number(1.000001, decimals: 3) == "1")
        #expect(SVG.number(.nan) == "0")
    }

    @Test func niceTicks() {
        func ticks(_ m: Double) -> [Double] {
            let t = SVG.ticks(upTo: m)
            return [t.step, t.top].map { ($0 * 1e6).rounded() / 1e6 }
        }
        #expect(ticks(941.5) == [200, 1000])
        #expect(ticks(300.2) == [100, 400])
        #expect(ticks(50.4) == [20, 60])
        #expect(ticks(1) == [0.2, 1])
        #expect(ticks(0.3) == [0.1, 0.3])
        #expect(ticks(12) == [2.5, 12.5])
        #expect(ticks(0) == [0.2, 1])
    }
}
