using System.Globalization;
using System.Text;

namespace Raid5Actors.Cli.Output;

/// <summary>Renders a <see cref="StatusDocument"/> as people read md: /proc/mdstat for <c>status</c>, mdadm --detail for <c>detail</c>.</summary>
internal static class StatusText
{
    private const int kBarWidth = 20;

    /// <summary>
    /// Like one array of /proc/mdstat: state and members ((F) faulty, (S) spare), size, chunk,
    /// algorithm, [raid devices/working] [U_U], and the running sync with its bar, rate and finish estimate.
    /// </summary>
    public static string Mdstat(StatusDocument s)
    {
        var text = new StringBuilder();
        var members = s.Members.OrderBy(m => m.Role < 0).ThenBy(m => m.Role).ThenBy(m => m.Device)
            .Where(m => m.Device >= 0)
            .Select(m => $"{Path.GetFileName(m.Name)}[{(m.Role >= 0 ? m.Role : m.Device)}]{Flag(m)}");
        text.AppendLine(CultureInfo.InvariantCulture, $"{s.Folder} : {s.State} raid5 {string.Join(' ', members)}");
        var roles = Enumerable.Range(0, s.RaidDevices)
            .Select(role => s.Members.Any(m => m.Role == role && m.State == "in-sync") ? 'U' : '_');
        text.AppendLine(CultureInfo.InvariantCulture,
            $"      {s.CapacityBytes} bytes ({Sizes.Format(s.CapacityBytes)}) {Sizes.FormatChunk(s.ChunkBytes).ToLowerInvariant()} chunk, "
            + $"algorithm {LayoutNumber(s.Layout)} ({s.Layout}) [{s.RaidDevices}/{s.WorkingDevices}] [{string.Concat(roles)}]");
        if (s.Sync is { } sync)
            text.AppendLine(CultureInfo.InvariantCulture, $"      {SyncLine(sync)}");
        else if (s.LastSyncFailure is { } failure)
            text.AppendLine(CultureInfo.InvariantCulture, $"      last sync failed: {failure}");
        else if (s.LastSync is { } last)
            text.AppendLine(CultureInfo.InvariantCulture, $"      last {last.Kind}: {Finished(last)}");
        if (s.Bitmap is { } bitmap)
            text.AppendLine(CultureInfo.InvariantCulture,
                $"      bitmap: {bitmap.DirtyChunks}/{bitmap.Chunks} chunks dirty, {Sizes.FormatChunk(bitmap.ChunkBytes)} chunk");
        if (s.ServedBy is { } served)
            text.AppendLine(CultureInfo.InvariantCulture, $"      served by process {served.ProcessId} on {served.Host}{(served.Export is { } e ? $" at {e}" : "")}");
        return text.ToString();
    }

    /// <summary>The mdstat progress line: <c>[====>...]  recovery = 23.4% (5.0 MiB/21.3 MiB) finish=0.1min speed=12.3MiB/s</c>.</summary>
    public static string SyncLine(SyncDocument sync)
    {
        var filled = (int)Math.Clamp(Math.Floor(sync.Percent / 100 * kBarWidth), 0, kBarWidth);
        var bar = new string('=', filled) + (filled < kBarWidth ? ">" + new string('.', kBarWidth - filled - 1) : "");
        var finish = sync.EtaSeconds is { } eta ? $"{eta / 60:0.0}min" : "?";
        return (
            $"[{bar}]  {sync.Kind} = {sync.Percent:0.0}% ({Sizes.Format(sync.DoneBytes)}/{Sizes.Format(sync.TotalBytes)}) "
            + $"finish={finish} speed={Sizes.Format(sync.BytesPerSecond)}/s"
            + (sync.Kind is "check" or "repair" or "resync" ? $" mismatches={sync.Mismatches}" : ""));
    }

    /// <summary>How a finished sync ended, in one line.</summary>
    public static string Finished(SyncDocument sync) =>
        ($"{sync.Percent:0.#}% of {Sizes.Format(sync.TotalBytes)}")
        + (sync.Kind is "check" or "repair" or "resync" ? $", {sync.Mismatches} mismatched rows" : "")
        + (sync.TargetRole >= 0 ? $", member {sync.TargetRole}" : "");

    /// <summary>Like mdadm --detail: the array's facts, then one line per device.</summary>
    public static string Detail(StatusDocument s)
    {
        var text = new StringBuilder();
        void Line(string key, object value) => text.AppendLine(CultureInfo.InvariantCulture, $"{key,18} : {value}");
        var spares = s.Members.Count(m => m.Role < 0);
        var failed = s.Members.Count(m => m.State == "faulty");
        text.AppendLine(CultureInfo.InvariantCulture, $"{s.Folder}:");
        Line("Version", "raid5actors 1");
        Line("Creation Time", s.CreatedUtc.ToString("ddd MMM d HH:mm:ss yyyy", CultureInfo.InvariantCulture) + " UTC");
        Line("Raid Level", s.Level);
        Line("Array Size", $"{s.CapacityBytes} bytes ({Sizes.Format(s.CapacityBytes)})");
        Line("Used Dev Size", $"{s.MemberDataBytes} bytes ({Sizes.Format(s.MemberDataBytes)})");
        Line("Data Offset", $"{s.DataOffsetBytes} bytes");
        Line("Raid Devices", s.RaidDevices);
        Line("Total Devices", s.Members.Count(m => m.Device >= 0));
        text.AppendLine();
        Line("State", DetailState(s));
        Line("Active Devices", s.WorkingDevices);
        Line("Working Devices", s.Members.Count(m => m.Device >= 0 && m.State != "faulty"));
        Line("Failed Devices", failed);
        Line("Spare Devices", spares);
        text.AppendLine();
        Line("Layout", s.Layout);
        Line("Chunk Size", Sizes.FormatChunk(s.ChunkBytes));
        if (s.Sync is { } sync)
            Line(sync.Kind == "recovery" ? "Rebuild Status" : "Sync Status", string.Create(CultureInfo.InvariantCulture, $"{sync.Percent:0}% complete ({sync.Kind})"));
        else if (s.LastSync is { } last)
            Line("Last Sync", $"{last.Kind}, {Finished(last)}");
        text.AppendLine();
        Line("UUID", s.ArrayId);
        Line("Events", s.Events);
        if (s.ServedBy is { } served)
            Line("Served By", $"process {served.ProcessId} on {served.Host}{(served.Export is { } e ? $" at {e}" : "")}");
        text.AppendLine();
        text.AppendLine("    Number   RaidDevice   State");
        foreach (var m in s.Members.OrderBy(m => m.Role < 0).ThenBy(m => m.Role).ThenBy(m => m.Device))
        {
            var number = m.Device >= 0 ? m.Device.ToString(CultureInfo.InvariantCulture) : "-";
            var role = m.Role >= 0 ? m.Role.ToString(CultureInfo.InvariantCulture) : "-";
            text.AppendLine(CultureInfo.InvariantCulture, $"    {number,6}   {role,10}   {DeviceState(m),-20} {(m.Device >= 0 ? m.Name : "")}");
        }
        return text.ToString();
    }

    private static string DetailState(StatusDocument s)
    {
        var words = new List<string> { s.State is "active" or "degraded" or "recovering" or "checking" or "repairing" or "resyncing" ? "active" : s.State };
        if (s.Degraded && s.State != "failed")
            words.Add("degraded");
        if (s.Sync is { } sync)
            words.Add(sync.Kind == "recovery" ? "recovering" : sync.Kind + "ing");
        return string.Join(", ", words.Distinct());
    }

    private static string DeviceState(MemberDocument m) => m.State switch
    {
        "in-sync" => "active sync",
        "rebuilding" => "spare rebuilding",
        "faulty" => "faulty",
        "removed" => "removed",
        _ => "spare",
    };

    private static string Flag(MemberDocument m) => m.State switch
    {
        "faulty" => "(F)",
        "spare" => "(S)",
        "rebuilding" => "(R)",
        _ => "",
    };

    private static int LayoutNumber(string layout) => (int)Raid5Actors.Geometry.Raid5LayoutNames.Parse(layout);
}
