using System.Globalization;
using System.Text.RegularExpressions;
using Raid5Actors.Tests.Arrays;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Cli;

/// <summary>
/// The CLI as an operator types it against a served array: <c>fail</c> a member, <c>add</c> a new
/// one, and watch the recovery in <c>status</c> and <c>detail</c> (text and <c>--json</c>) until every
/// role is in sync again. Recoveries are slowed with <c>--set raid5.sync.speed-max</c> so they can be
/// seen running.
/// </summary>
public sealed partial class CliRecoverySpec(ITestOutputHelper output) : IDisposable
{
    private const int kMembers = 3;

    private readonly TemporaryFolder _temp = new();
    private readonly Raid5Command _raid5 = new(output);

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Fail_then_add_no_wait_shows_the_recovery_in_status_and_detail_until_every_role_is_active_sync()
    {
        var dir = _temp.PathOf("array");
        // 16 MiB of data per member at 2 MiB/s: about 8 s of recovery to observe.
        await _raid5.RunOkAsync("create", dir, "--members", $"{kMembers}", "--member-size", "17M", "--chunk", "64K");
        await using var served = await ServedCli.StartAsync(output, dir, "--set", "raid5.sync.speed-max=2M");

        Assert.Contains("member 1 marked faulty", (await _raid5.RunOkAsync("fail", dir, "1")).Stdout);
        var add = await _raid5.RunOkAsync("add", dir, "--no-wait");
        Assert.Matches(@"^raid5: \S+member-03\.img added", add.Stdout);
        Assert.DoesNotContain("recovery =", add.Stdout);

        var running = await _raid5.PollStatusAsync(dir, s => s.Sync() is { } sync && sync.GetProperty("percent").GetDouble() > 0,
            "recovery progress", TimeSpan.FromSeconds(20));
        Assert.Equal("recovering", running.State());
        var sync = running.Sync()!.Value;
        Assert.Equal("recovery", sync.GetProperty("kind").GetString());
        Assert.Equal(1, sync.GetProperty("targetRole").GetInt32());
        Assert.InRange(sync.GetProperty("percent").GetDouble(), 0.01, 99.99);
        Assert.InRange(sync.GetProperty("doneRows").GetInt64(), 1, sync.GetProperty("totalRows").GetInt64() - 1);
        Assert.Equal(new Dictionary<int, string> { [0] = "in-sync", [1] = "rebuilding", [2] = "in-sync" }, running.RoleStates());
        var rebuilding = running.GetProperty("members").EnumerateArray().Single(m => m.GetProperty("role").GetInt32() == 1);
        Assert.Equal(3, rebuilding.GetProperty("device").GetInt32());

        var text = (await _raid5.RunOkAsync("status", dir)).Stdout;
        Assert.Contains(" : recovering raid5 ", text);
        Assert.Contains("member-03.img[1](R)", text);
        Assert.Contains("[3/2] [U_U]", text);
        var percent = double.Parse(Assert.Single(RecoveryLine().Matches(text)).Groups["percent"].Value, CultureInfo.InvariantCulture);
        Assert.InRange(percent, 0.1, 99.9);
        Assert.Contains($"served by process {served.ProcessId}", text);
        var detail = (await _raid5.RunOkAsync("detail", dir)).Stdout;
        Assert.Contains("State : active, degraded, recovering", detail);
        Assert.Equal("spare rebuilding", DeviceTable(detail)[1].State);

        var recovered = await _raid5.PollStatusAsync(dir, s => s.Sync() is null, "the end of the recovery", TimeSpan.FromSeconds(60));
        Assert.Equal("active", recovered.State());

        var table = DeviceTable((await _raid5.RunOkAsync("detail", dir)).Stdout);
        Assert.Equal(kMembers, table.Count);
        Assert.All(table.Values, row => Assert.Equal("active sync", row.State));
        Assert.Equal(3, table[1].Device);
        var json = await _raid5.DetailJsonAsync(dir);
        Assert.Equal(StatusJson.AllInSync(kMembers), json.RoleStates());
        Assert.False(json.GetProperty("degraded").GetBoolean());
        Assert.Null(json.Sync());
        var last = json.LastSync()!.Value;
        Assert.Equal("recovery", last.GetProperty("kind").GetString());
        Assert.Equal(1, last.GetProperty("targetRole").GetInt32());
        Assert.Equal(100, last.GetProperty("percent").GetDouble());
        Assert.Equal(last.GetProperty("totalRows").GetInt64(), last.GetProperty("doneRows").GetInt64());

        await served.StopAsync();
    }

    [Fact]
    public async Task Add_without_no_wait_prints_recovery_progress_lines_until_recovery_finished()
    {
        var dir = _temp.PathOf("array");
        // 8 MiB per member at 2 MiB/s: about 4 s, so a few of the once-a-second progress lines.
        await _raid5.RunOkAsync("create", dir, "--members", $"{kMembers}", "--member-size", "9M", "--chunk", "64K");
        await using var served = await ServedCli.StartAsync(output, dir, "--set", "raid5.sync.speed-max=2M");
        await _raid5.RunOkAsync("fail", dir, "2");

        var add = await _raid5.RunOkAsync("add", dir);

        var lines = add.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^raid5: \S+member-03\.img added", lines[0]);
        var percents = lines.Select(l => RecoveryLine().Match(l)).Where(m => m.Success).Select(m => double.Parse(m.Groups["percent"].Value, CultureInfo.InvariantCulture)).ToList();
        Assert.NotEmpty(percents);
        Assert.All(percents, p => Assert.InRange(p, 0, 100));
        Assert.Equal(percents.Order(), percents);
        Assert.Contains("raid5: recovery finished: 100% of 8 MiB, member 2", lines);
        Assert.Contains(lines, l => l.EndsWith("[3/3] [UUU]", StringComparison.Ordinal));
        Assert.DoesNotContain('\r', add.Stdout);
        Assert.DoesNotContain('\u001b', add.Stdout);
        Assert.Equal(StatusJson.AllInSync(kMembers), (await _raid5.StatusJsonAsync(dir)).RoleStates());

        await served.StopAsync();
    }

    [Fact]
    public async Task A_second_serve_or_assemble_of_a_served_folder_exits_1_naming_the_serving_process()
    {
        var dir = _temp.PathOf("array");
        await _raid5.RunOkAsync("create", dir, "--members", $"{kMembers}", "--member-size", "5M", "--chunk", "64K");
        await using var served = await ServedCli.StartAsync(output, dir);

        var second = await _raid5.RunAsync("serve", dir, "--port", "0");
        Assert.Equal(1, second.ExitCode);
        Assert.Contains($"in use by process {served.ProcessId}", second.Stderr);
        Assert.DoesNotContain("serving", second.Stdout);
        var assemble = await _raid5.RunAsync("assemble", dir);
        Assert.Equal(1, assemble.ExitCode);
        Assert.Contains("served by another process", assemble.Stderr);

        // The refusals left the first server alone.
        var status = await _raid5.StatusJsonAsync(dir);
        Assert.Equal(served.ProcessId, status.ServedBy()!.Value.GetProperty("processId").GetInt32());
        Assert.Equal(StatusJson.AllInSync(kMembers), status.RoleStates());
        await served.StopAsync();
    }

    /// <summary>mdadm --detail's device table: role to (device number, state), from the lines under "Number RaidDevice State".</summary>
    private static Dictionary<int, (int Device, string State)> DeviceTable(string detail)
    {
        var lines = detail.Split('\n').Select(l => l.TrimEnd('\r'));
        var rows = lines.SkipWhile(l => !l.Contains("Number   RaidDevice   State", StringComparison.Ordinal)).Skip(1)
            .Where(l => l.Trim().Length > 0)
            .Select(l => Regex.Split(l.Trim(), @"\s{2,}"))
            .ToList();
        Assert.NotEmpty(rows);
        return rows.Where(r => r[1] != "-").ToDictionary(r => int.Parse(r[1]), r => (r[0] == "-" ? -1 : int.Parse(r[0]), r[2]));
    }

    [GeneratedRegex(@"^\s*\[[=>.]{20}\]  recovery = (?<percent>\d+\.\d)% \(", RegexOptions.Multiline)]
    private static partial Regex RecoveryLine();
}
