; Seatkeeper for Windows: Inno Setup 6 script.
; Build on Windows after `pyinstaller installer/pyinstaller/seatkeeper.spec`:
;     iscc installer\windows-inno-setup\seatkeeper.iss
; Installs per user (no administrator rights), registers start at login in the
; user's Run key (optional task), and removes both on uninstall.

#define AppName "Seatkeeper"
#define AppVersion "0.1.0"
#define AppExe "seatkeeper.exe"

[Setup]
AppId={{6C1E4C7A-3D53-4E0B-9B5E-5EA7C0A1F2D1}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=Seatkeeper
DefaultDirName={localappdata}\Programs\{#AppName}
DefaultGroupName={#AppName}
PrivilegesRequired=lowest
OutputBaseFilename=seatkeeper-{#AppVersion}-setup
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\{#AppExe}
CloseApplications=yes

[Tasks]
Name: "autostart"; Description: "Start Seatkeeper when I log in"; GroupDescription: "Start at login:"

[Files]
; The one-folder PyInstaller bundle (dist\seatkeeper).
Source: "..\..\dist\seatkeeper\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"; Parameters: "run"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"

[Registry]
; The same value `seatkeeper autostart enable` writes; removed on uninstall.
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "Seatkeeper"; ValueData: """{app}\{#AppExe}"" run"; Flags: uninsdeletevalue; Tasks: autostart

[Run]
Filename: "{app}\{#AppExe}"; Parameters: "run"; Description: "Start Seatkeeper now"; Flags: nowait postinstall skipifsilent

[UninstallRun]
; Stop a running agent first: it gives the seat back (as at shutdown) and keeps no lock.
Filename: "{cmd}"; Parameters: "/C taskkill /IM {#AppExe}"; Flags: runhidden; RunOnceId: "StopAgent"

[Code]
// A Run value written later by `seatkeeper autostart enable` (the task unticked) goes too.
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usPostUninstall then
    RegDeleteValue(HKEY_CURRENT_USER, 'Software\Microsoft\Windows\CurrentVersion\Run', 'Seatkeeper');
end;
