/// Charts of throughput, as SVG text: `ThroughputChart` (a grouped bar chart of
/// `podwire bench throughput` rows, with the published figure marked) and
/// `FlowThroughputChart` (each flow's goodput over simulated time, for `podwire run --svg`).
/// Same input, same bytes: numbers are written by `SVG.number`, layout depends only on the
/// rows, and nothing reads a clock or a locale.

import Engine

public enum ThroughputChart {
    /// A grouped bar chart: a section per profile, in it a group per (CNI, path), in it a bar
    /// per datagram length (colours keyed by length in the legend). Each bar is the goodput in
    /// Mbit/s, with its value above it and a dashed black marker at `publishedMbps` where the
    /// row has one; each bar and marker carries a `<title>` (a tooltip in browsers) with the
    /// row's full label. Sections and groups keep the rows' order; bars go by length.
    public static func svg(rows: [ThroughputRow], title: String) -> String {
        struct Group {
            var cni: String, via: String
            var rows: [ThroughputRow]
        }
        struct Section {
            var profile: String
            var groups: [Group]
        }
        var sections: [Section] = []
        for r in rows {
            let s = sections.firstIndex { $0.profile == r.profile } ?? {
                sections.append(Section(profile: r.profile, groups: []))
                return sections.count - 1
            }()
            if let g = sections[s].groups.firstIndex(where: { $0.cni == r.cni && $0.via == r.via }) {
                sections[s].groups[g].rows.append(r)
            } else {
                sections[s].groups.append(Group(cni: r.cni, via: r.via, rows: [r]))
            }
        }
        let lengths = Array(Set(rows.map(\.length))).sorted()
        for s in sections.indices {
            for g in sections[s].groups.indices {
                // Stable: rows of one length keep their order.
                let unsorted = sections[s].groups[g].rows
                sections[s].groups[g].rows = lengths.flatMap { l in unsorted.filter { $0.length == l } }
            }
        }

        let barWidth = 22.0, barGap = 3.0, groupGap = 14.0, sectionGap = 26.0
        let smallChar = 5.6, charWidth = 6.6  // estimated widths at font sizes 10 and 12
        let left = 76.0, right = 24.0, top = 78.0, plotHeight = 300.0, bottom = 74.0
        func barsWidth(_ g: Group) -> Double { Double(g.rows.count) * barWidth + Double(max(g.rows.count - 1, 0)) * barGap }
        func groupSlot(_ g: Group) -> Double { max(barsWidth(g), Double(max(g.cni.count, g.via.count)) * smallChar) + groupGap }
        func sectionSlot(_ s: Section) -> Double {
            max(s.groups.map(groupSlot).reduce(0, +), Double(s.profile.count) * charWidth + groupGap) + sectionGap
        }
        let plotWidth = max(sections.map(sectionSlot).reduce(0, +), 480)
        let width = left + plotWidth + right
        let height = top + plotHeight + bottom
        let maximum = rows.map { max($0.goodputBps / 1e6, $0.publishedMbps ?? 0) }.max() ?? 0
        let (step, axisTop) = SVG.ticks(upTo: maximum)
        func y(_ mbps: Double) -> Double { top + plotHeight - max(mbps, 0) / axisTop * plotHeight }
        let n = SVG.number

        var out = SVG.header(width: width, height: height, title: title,
                             description: "Goodput in Mbit/s per profile, CNI, path and UDP payload length; dashed markers: published figures.")
        // Legend: one swatch per length, then the published marker.
        var lx = left
        out += "<g class=\"legend\">\n"
        for (i, l) in lengths.enumerated() {
            let label = "\(l) B payload"
            out += "<g class=\"legend-entry\"><rect x=\"\(n(lx, 2))\" y=\"42\" width=\"12\" height=\"12\" fill=\"\(SVG.color(i))\"/>"
                + "<text x=\"\(n(lx + 17, 2))\" y=\"52\">\(SVG.escape(label))</text></g>\n"
            lx += 17 + Double(label.count) * charWidth + 18
        }
        if rows.contains(where: { $0.publishedMbps != nil }) {
            out += "<g class=\"legend-entry\"><line x1=\"\(n(lx, 2))\" y1=\"48\" x2=\"\(n(lx + 16, 2))\" y2=\"48\" stroke=\"#000000\" stroke-width=\"2\" stroke-dasharray=\"4 2\"/>"
                + "<text x=\"\(n(lx + 21, 2))\" y=\"52\">published figure</text></g>\n"
        }
        out += "</g>\n"
        out += axis(left: left, top: top, width: plotWidth, height: plotHeight, step: step, axisTop: axisTop, title: "goodput (Mbit/s)")
        if rows.isEmpty {
            out += "<text x=\"\(n(left + plotWidth / 2, 2))\" y=\"\(n(top + plotHeight / 2, 2))\" text-anchor=\"middle\" fill=\"#666666\">no rows</text>\n"
        }

        var x = left
        for (k, section) in sections.enumerated() {
            let slot = sectionSlot(section)
            let groupsWidth = section.groups.map(groupSlot).reduce(0, +)
            out += "<g class=\"section\">\n"
            if k > 0 {
                out += "<line class=\"separator\" x1=\"\(n(x, 2))\" y1=\"\(n(top, 2))\" x2=\"\(n(x, 2))\" y2=\"\(n(top + plotHeight + 56, 2))\" stroke=\"#c0c0c0\"/>\n"
            }
            var gx = x + (slot - groupsWidth) / 2
            for g in section.groups {
                let gslot = groupSlot(g)
                var bx = gx + (gslot - barsWidth(g)) / 2
                out += "<g class=\"group\">\n"
                for r in g.rows {
                    let mbps = r.goodputBps / 1e6
                    let label = "\(r.profile) · \(r.cni) · \(r.via) · \(r.length) B"
                    var tip = "\(label): goodput \(n(mbps, 1)) Mbit/s of \(n(r.offeredBps / 1e6, 1)) offered, lost \(n(r.lostPercent, 2))%"
                    if let p = r.publishedMbps { tip += "; published \(n(p, 1)) Mbit/s" + (r.publishedSource.map { " (\($0))" } ?? "") }
                    let color = SVG.color(lengths.firstIndex(of: r.length) ?? 0)
                    out += "<rect class=\"bar\" x=\"\(n(bx, 2))\" y=\"\(n(y(mbps), 2))\" width=\"\(n(barWidth, 2))\" height=\"\(n(top + plotHeight - y(mbps), 2))\" fill=\"\(color)\">"
                        + "<title>\(SVG.escape(tip))</title></rect>\n"
                    out += "<text class=\"value\" x=\"\(n(bx + barWidth / 2, 2))\" y=\"\(n(y(mbps) - 4, 2))\" text-anchor=\"middle\" font-size=\"9\">\(n(mbps, mbps < 10 ? 1 : 0))</text>\n"
                    if let p = r.publishedMbps {
                        out += "<line class=\"published\" x1=\"\(n(bx - 3, 2))\" y1=\"\(n(y(p), 2))\" x2=\"\(n(bx + barWidth + 3, 2))\" y2=\"\(n(y(p), 2))\" stroke=\"#000000\" stroke-width=\"2\" stroke-dasharray=\"4 2\">"
                            + "<title>\(SVG.escape("published: \(n(p, 1)) Mbit/s" + (r.publishedSource.map { " (\($0))" } ?? "")))</title></line>\n"
                    }
                    bx += barWidth + barGap
                }
                let cx = n(gx + gslot / 2, 2)
                out += "<text class=\"group-label\" x=\"\(cx)\" y=\"\(n(top + plotHeight + 15, 2))\" text-anchor=\"middle\" font-size=\"10\">"
                    + "<tspan x=\"\(cx)\">\(SVG.escape(g.cni))</tspan><tspan x=\"\(cx)\" dy=\"12\">\(SVG.escape(g.via))</tspan></text>\n"
                out += "</g>\n"
                gx += gslot
            }
            out += "<text class=\"profile-label\" x=\"\(n(x + slot / 2, 2))\" y=\"\(n(top + plotHeight + 52, 2))\" text-anchor=\"middle\" font-weight=\"bold\">\(SVG.escape(section.profile))</text>\n"
            out += "</g>\n"
            x += slot
        }
        out += "</svg>\n"
        return out
    }

    /// The y axis (ticks, labels, grid lines, title) and the x axis line of a plot area.
    static func axis(left: Double, top: Double, width: Double, height: Double, step: Double, axisTop: Double, title: String) -> String {
        let n = SVG.number
        var out = "<g class=\"y-axis\">\n"
        var k = 0
        while Double(k) * step <= axisTop * (1 + 1e-9) {
            let v = Double(k) * step
            let ty = top + height - v / axisTop * height
            out += "<line class=\"grid\" x1=\"\(n(left, 2))\" y1=\"\(n(ty, 2))\" x2=\"\(n(left + width, 2))\" y2=\"\(n(ty, 2))\" stroke=\"#e0e0e0\"/>"
                + "<line class=\"tick\" x1=\"\(n(left - 5, 2))\" y1=\"\(n(ty, 2))\" x2=\"\(n(left, 2))\" y2=\"\(n(ty, 2))\" stroke=\"#000000\"/>"
                + "<text class=\"tick-label\" x=\"\(n(left - 8, 2))\" y=\"\(n(ty + 4, 2))\" text-anchor=\"end\">\(n(v, 3))</text>\n"
            k += 1
        }
        let cy = n(top + height / 2, 2)
        out += "<line x1=\"\(n(left, 2))\" y1=\"\(n(top, 2))\" x2=\"\(n(left, 2))\" y2=\"\(n(top + height, 2))\" stroke=\"#000000\"/>\n"
        out += "<text class=\"axis-title\" x=\"18\" y=\"\(cy)\" transform=\"rotate(-90 18 \(cy))\" text-anchor=\"middle\">\(SVG.escape(title))</text>\n"
        out += "</g>\n"
        out += "<line class=\"x-axis\" x1=\"\(n(left, 2))\" y1=\"\(n(top + height, 2))\" x2=\"\(n(left + width, 2))\" y2=\"\(n(top + height, 2))\" stroke=\"#000000\"/>\n"
        return out
    }
}

/// One line of a throughput-over-time chart: a flow's goodput in consecutive bins.
public struct ThroughputSeries: Sendable, Equatable {
    /// "flow 1: iperf3 -u pod/client → pod/web-0:5201 …".
    public var label: String
    /// Mbit/s of UDP payload in each bin; bin i covers [i × bin, (i + 1) × bin), the last one
    /// cut at the run's end.
    public var mbps: [Double]

    public init(label: String, mbps: [Double]) {
        self.label = label
        self.mbps = mbps
    }
}

public enum FlowThroughputChart {
    /// A line per series, drawn as steps (each bin's value held across the bin), over
    /// simulated time from 0 to `duration`; a legend below names each line.
    public static func svg(series: [ThroughputSeries], bin: SimDuration, duration: SimDuration, title: String) -> String {
        let n = SVG.number
        let left = 76.0, right = 24.0, top = 44.0, plotWidth = 680.0, plotHeight = 300.0
        let legendTop = top + plotHeight + 52
        let width = left + plotWidth + right
        let height = legendTop + Double(max(series.count, 1)) * 18 + 10
        let seconds = Double(duration.nanoseconds) / 1e9
        let maximum = series.flatMap(\.mbps).max() ?? 0
        let (step, axisTop) = SVG.ticks(upTo: maximum)
        func x(_ t: Double) -> Double { left + (seconds > 0 ? t / seconds : 0) * plotWidth }
        func y(_ v: Double) -> Double { top + plotHeight - max(v, 0) / axisTop * plotHeight }

        var out = SVG.header(width: width, height: height, title: title,
                             description: "UDP payload goodput in Mbit/s per flow, in bins of \(bin), over \(duration) of simulated time.")
        out += ThroughputChart.axis(left: left, top: top, width: plotWidth, height: plotHeight, step: step, axisTop: axisTop,
                                    title: "goodput (Mbit/s, bins of \(bin))")
        // Time axis: ticks from 0 up to the run's end.
        let (tStep, _) = SVG.ticks(upTo: seconds, count: 8)
        out += "<g class=\"x-ticks\">\n"
        var k = 0
        while Double(k) * tStep <= seconds * (1 + 1e-9) {
            let tx = n(x(Double(k) * tStep), 2)
            let base = top + plotHeight
            out += "<line class=\"tick\" x1=\"\(tx)\" y1=\"\(n(base, 2))\" x2=\"\(tx)\" y2=\"\(n(base + 5, 2))\" stroke=\"#000000\"/>"
                + "<text class=\"tick-label\" x=\"\(tx)\" y=\"\(n(base + 18, 2))\" text-anchor=\"middle\">\(n(Double(k) * tStep, 6))</text>\n"
            k += 1
        }
        out += "<text class=\"axis-title\" x=\"\(n(left + plotWidth / 2, 2))\" y=\"\(n(top + plotHeight + 36, 2))\" text-anchor=\"middle\">simulated time (s)</text>\n"
        out += "</g>\n"
        if series.isEmpty {
            out += "<text x=\"\(n(left + plotWidth / 2, 2))\" y=\"\(n(top + plotHeight / 2, 2))\" text-anchor=\"middle\" fill=\"#666666\">no UDP flows to plot</text>\n"
        }
        let binSeconds = Double(bin.nanoseconds) / 1e9
        for (i, s) in series.enumerated() {
            var points: [String] = []
            for (b, v) in s.mbps.enumerated() {
                let t0 = Double(b) * binSeconds, t1 = min(Double(b + 1) * binSeconds, seconds)
                points.append("\(n(x(t0), 2)),\(n(y(v), 2))")
                points.append("\(n(x(t1), 2)),\(n(y(v), 2))")
            }
            out += "<polyline class=\"flow\" fill=\"none\" stroke=\"\(SVG.color(i))\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\">"
                + "<title>\(SVG.escape(s.label))</title></polyline>\n"
        }
        out += "<g class=\"legend\">\n"
        for (i, s) in series.enumerated() {
            let ly = legendTop + Double(i) * 18
            out += "<g class=\"legend-entry\"><line x1=\"\(n(left, 2))\" y1=\"\(n(ly - 4, 2))\" x2=\"\(n(left + 18, 2))\" y2=\"\(n(ly - 4, 2))\" stroke=\"\(SVG.color(i))\" stroke-width=\"3\"/>"
                + "<text x=\"\(n(left + 24, 2))\" y=\"\(n(ly, 2))\">\(SVG.escape(s.label))</text></g>\n"
        }
        out += "</g>\n</svg>\n"
        return out
    }
}
