using System.Diagnostics;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Nbd;

/// <summary>
/// Runs a real NBD client (libnbd's nbdinfo/nbdcopy, qemu-img, fio) as a process. A missing tool
/// fails the spec: these specs are the proof that other people's clients work with the server.
/// </summary>
internal static class ExternalTool
{
    private const string kInstall = "apt-get install -y libnbd-bin qemu-utils fio (.ci/run installs them)";
    private static readonly TimeSpan s_defaultTimeout = TimeSpan.FromSeconds(60);

    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>The tool's full path; fails the spec when it is not on PATH.</summary>
    public static string Require(string tool)
    {
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(folder, tool);
            if (File.Exists(candidate))
                return candidate;
        }
        Assert.Fail($"{tool} is not installed: {kInstall}");
        return "";
    }

    /// <summary>Runs the tool to its end (killed after <paramref name="timeout"/>) and returns what it said.</summary>
    public static async Task<Result> RunAsync(ITestOutputHelper output, string tool, IEnumerable<string> arguments, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(Require(tool))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        output.WriteLine($"$ {tool} {string.Join(' ', start.ArgumentList)}");

        var watch = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{tool} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout ?? s_defaultTimeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Assert.Fail($"{tool} did not finish within {timeout ?? s_defaultTimeout}; stderr: {await stderr}");
        }
        var result = new Result(process.ExitCode, await stdout, await stderr);
        output.WriteLine($"  exit {result.ExitCode} after {watch.ElapsedMilliseconds} ms");
        if (result.Stderr.Length > 0)
            output.WriteLine($"  stderr: {Truncate(result.Stderr)}");
        return result;
    }

    /// <summary>Runs the tool and fails the spec unless it exits with 0; returns its standard output.</summary>
    public static async Task<string> RunOkAsync(ITestOutputHelper output, string tool, IEnumerable<string> arguments, TimeSpan? timeout = null)
    {
        var result = await RunAsync(output, tool, arguments, timeout);
        Assert.True(result.ExitCode == 0, $"{tool} exited with {result.ExitCode}: {Truncate(result.Stderr)} {Truncate(result.Stdout)}");
        return result.Stdout;
    }

    private static string Truncate(string text) => text.Length <= 4000 ? text : text[..4000] + "...";
}
