using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Cli;

/// <summary>
/// <c>raid5 serve DIR --port 0 ...</c> as a long-lived process: started, read until it prints the
/// line that names its port, and stopped on dispose the way an operator or systemd stops it
/// (SIGTERM), which must end with exit code 0 and <c>raid5: stopped</c>. A server that does not stop
/// within <see cref="s_stopTimeout"/> is killed and fails the spec.
/// </summary>
internal sealed partial class ServedCli : IAsyncDisposable
{
    public const string kExportName = "raid5";

    private const int kSigTerm = 15;
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_stopTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly ITestOutputHelper _output;
    private readonly string _commandLine;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource<int> _serving = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _stopped;

    private ServedCli(Process process, ITestOutputHelper output, string commandLine)
    {
        _process = process;
        _output = output;
        _commandLine = commandLine;
    }

    public int Port { get; private set; }

    public int ProcessId => _process.Id;

    /// <summary>The default export <c>""</c>.</summary>
    public string Uri => $"nbd://127.0.0.1:{Port}/";

    public string NamedUri => $"nbd://127.0.0.1:{Port}/{kExportName}";

    /// <summary>Everything the server printed on stdout so far.</summary>
    public string Stdout
    {
        get
        {
            lock (_stdout)
                return _stdout.ToString();
        }
    }

    /// <summary>Starts <c>raid5 serve <paramref name="folder"/> --port 0 --export-name raid5 <paramref name="extra"/></c> and waits until it serves.</summary>
    public static Task<ServedCli> StartAsync(ITestOutputHelper output, string folder, params string[] extra) =>
        StartAsync(output, ["serve", folder, "--port", "0", "--export-name", kExportName, .. extra]);

    /// <summary>Starts <c>raid5 <paramref name="arguments"/></c> (a serve command line) and waits until it serves.</summary>
    public static async Task<ServedCli> StartAsync(ITestOutputHelper output, IReadOnlyList<string> arguments)
    {
        var start = Raid5Command.StartInfo(arguments);
        var commandLine = Raid5Command.Describe(start);
        var process = new Process { StartInfo = start };
        var served = new ServedCli(process, output, commandLine);
        process.OutputDataReceived += (_, e) => served.OnStdout(e.Data);
        process.ErrorDataReceived += (_, e) => served.OnStderr(e.Data);
        var watch = Stopwatch.StartNew();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var exited = process.WaitForExitAsync();
        var first = await Task.WhenAny(served._serving.Task, exited, Task.Delay(s_startTimeout));
        if (first != served._serving.Task)
        {
            var why = first == exited ? $"exited with {process.ExitCode} before serving" : $"did not serve within {s_startTimeout}";
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
            served._stopped = true;
            var outputs = served.Outputs();
            process.Dispose();
            Assert.Fail($"{commandLine} {why}\n{outputs}");
        }
        served.Port = await served._serving.Task;
        output.WriteLine($"$ {commandLine}  (pid {process.Id}, serving at {served.Uri} after {watch.ElapsedMilliseconds} ms)");
        return served;
    }

    /// <summary>SIGTERM, then exit code 0 and <c>raid5: stopped</c>; killed and failed if it hangs.</summary>
    public async Task StopAsync()
    {
        if (_stopped)
            return;
        _stopped = true;
        var watch = Stopwatch.StartNew();
        if (!_process.HasExited)
            Assert.True(Kill(_process.Id, kSigTerm) == 0, $"kill(SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
        using var cancel = new CancellationTokenSource(s_stopTimeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
            Assert.Fail($"{_commandLine} did not stop within {s_stopTimeout} of SIGTERM; killed\n{Outputs()}");
        }
        _output.WriteLine($"{_commandLine} stopped by SIGTERM in {watch.ElapsedMilliseconds} ms\n{Outputs()}");
        Assert.True(_process.ExitCode == 0, $"raid5 serve exited with {_process.ExitCode} after SIGTERM\n{Outputs()}");
        Assert.Contains("raid5: stopped", Stdout.Split('\n').Select(l => l.TrimEnd('\r')));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            _process.Dispose();
        }
    }

    private string Outputs()
    {
        lock (_stderr)
            return $"exit {(_process.HasExited ? _process.ExitCode.ToString() : "(running)")}\n--- stdout ---\n{Stdout}--- stderr ---\n{_stderr}";
    }

    private void OnStdout(string? line)
    {
        if (line is null)
            return;
        lock (_stdout)
            _stdout.AppendLine(line);
        if (ServingLine().Match(line) is { Success: true } match)
            _serving.TrySetResult(int.Parse(match.Groups["port"].Value));
    }

    private void OnStderr(string? line)
    {
        if (line is null)
            return;
        lock (_stderr)
            _stderr.AppendLine(line);
    }

    [GeneratedRegex(@"^raid5: serving .+ at nbd://127\.0\.0\.1:(?<port>\d+)/ \(export ")]
    private static partial Regex ServingLine();

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
