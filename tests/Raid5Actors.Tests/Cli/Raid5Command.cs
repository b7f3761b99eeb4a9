using System.Diagnostics;
using System.Text.Json;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Cli;

/// <summary>What one <c>raid5</c> invocation said and how it ended.</summary>
internal sealed record CliResult(string CommandLine, int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"$ {CommandLine}\nexit {ExitCode}\n--- stdout ---\n{Stdout}--- stderr ---\n{Stderr}";
}

/// <summary>
/// Runs the CLI as a user does: <c>dotnet raid5.dll ARGS</c> as its own process (the test project
/// references the CLI, so raid5.dll sits beside the test assembly), with stdout and stderr captured
/// and not a terminal. A run that outlives its timeout is killed and fails the spec with both outputs.
/// </summary>
internal sealed class Raid5Command(ITestOutputHelper output)
{
    private static readonly TimeSpan s_defaultTimeout = TimeSpan.FromSeconds(60);

    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "raid5.dll");

    /// <summary>The start of a <c>raid5</c> process with <paramref name="arguments"/>; output redirected, never a terminal.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> arguments)
    {
        Assert.True(File.Exists(DllPath), $"{DllPath} is missing: the test project must reference src/Raid5Actors.Cli");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(DllPath);
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        return start;
    }

    public static string Describe(ProcessStartInfo start) => "raid5 " + string.Join(' ', start.ArgumentList.Skip(1));

    public Task<CliResult> RunAsync(params string[] arguments) => RunAsync(arguments, s_defaultTimeout);

    public async Task<CliResult> RunAsync(IReadOnlyList<string> arguments, TimeSpan timeout)
    {
        var start = StartInfo(arguments);
        var commandLine = Describe(start);
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{commandLine} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            var hung = new CliResult(commandLine, -1, await stdout, await stderr);
            output.WriteLine(hung.ToString());
            Assert.Fail($"{commandLine} did not finish within {timeout}; killed.\n{hung}");
        }
        var result = new CliResult(commandLine, process.ExitCode, await stdout, await stderr);
        output.WriteLine($"{result}({watch.ElapsedMilliseconds} ms)");
        return result;
    }

    /// <summary>Runs the command and fails the spec, with both outputs, unless it exits with 0.</summary>
    public async Task<CliResult> RunOkAsync(params string[] arguments)
    {
        var result = await RunAsync(arguments);
        Assert.True(result.ExitCode == 0, $"expected exit 0\n{result}");
        return result;
    }

    /// <summary><c>raid5 status DIR --json</c>, parsed.</summary>
    public async Task<JsonElement> StatusJsonAsync(string folder) => ParseJson(await RunOkAsync("status", folder, "--json"));

    /// <summary><c>raid5 detail DIR --json</c>, parsed.</summary>
    public async Task<JsonElement> DetailJsonAsync(string folder) => ParseJson(await RunOkAsync("detail", folder, "--json"));

    /// <summary>Asks <c>status --json</c> until <paramref name="done"/> holds, failing with the last status after <paramref name="timeout"/>.</summary>
    public async Task<JsonElement> PollStatusAsync(string folder, Func<JsonElement, bool> done, string what, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var status = await StatusJsonAsync(folder);
            if (done(status))
                return status;
            if (deadline.Elapsed > timeout)
                Assert.Fail($"{what} did not happen within {timeout}; last status:\n{status}");
            await Task.Delay(200);
        }
    }

    public static JsonElement ParseJson(CliResult result)
    {
        try
        {
            using var document = JsonDocument.Parse(result.Stdout);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            Assert.Fail($"stdout is not JSON ({e.Message})\n{result}");
            throw;
        }
    }
}

/// <summary>Reads the CLI's status document (<c>status --json</c>, <c>detail --json</c>) the way a script does: by its property names.</summary>
internal static class StatusJson
{
    public static string State(this JsonElement status) => status.GetProperty("state").GetString()!;

    public static long CapacityBytes(this JsonElement status) => status.GetProperty("capacityBytes").GetInt64();

    /// <summary>Role to member state (in-sync, rebuilding, faulty, removed); spares (role -1) left out.</summary>
    public static IReadOnlyDictionary<int, string> RoleStates(this JsonElement status) =>
        status.GetProperty("members").EnumerateArray()
            .Where(m => m.GetProperty("role").GetInt32() >= 0)
            .ToDictionary(m => m.GetProperty("role").GetInt32(), m => m.GetProperty("state").GetString()!);

    /// <summary>The running sync, or null when none runs (the property is then absent or null).</summary>
    public static JsonElement? Sync(this JsonElement status) => Optional(status, "sync");

    public static JsonElement? LastSync(this JsonElement status) => Optional(status, "lastSync");

    public static JsonElement? ServedBy(this JsonElement status) => Optional(status, "servedBy");

    public static IReadOnlyDictionary<int, string> AllInSync(int roles) =>
        Enumerable.Range(0, roles).ToDictionary(role => role, _ => "in-sync");

    private static JsonElement? Optional(JsonElement status, string name) =>
        status.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;
}
